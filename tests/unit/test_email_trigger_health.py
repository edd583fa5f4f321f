"""An e-mail trigger's health in GET .../triggers (unit): the worse of what its firings and its polls say."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from workflow_scheduler.domain.history import Firing, Health, History, TriggerHealth, worse
from workflow_scheduler.domain.models import Deployment, DeploymentStatus, TriggerRecord, TriggerStatus, TriggerType
from workflow_scheduler.domain.triggers.email.health import EmailPollHealth, PollState

NOW = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
DEPLOYED = NOW - timedelta(hours=2)


def record(trigger_id: str, trigger_type: TriggerType = TriggerType.EMAIL, **config: Any) -> TriggerRecord:
    status = config.pop("status", TriggerStatus.ACTIVE)
    return TriggerRecord("wf", trigger_id, trigger_type, config, "h", 1, status, created_at=DEPLOYED)


class States:
    def __init__(self, states: dict[str, PollState]) -> None:
        self.states = states

    def poll_states(self, workflow_id: str) -> dict[str, PollState]:
        return self.states


class Firings:
    """``HistoryStore`` and ``DeploymentLookup``: one parked firing of trigger "parked", nothing else."""

    def get_deployment(self, workflow_id: str) -> Deployment:
        return Deployment(workflow_id, "d", "alice", {}, 1, DeploymentStatus.DEPLOYED, DEPLOYED, DEPLOYED)

    def firings(self, *args: Any) -> list[Firing]:
        return []

    def last_firings(self, workflow_id: str, trigger_ids: Sequence[str]) -> dict[str, Firing]:
        return {}

    def recent_firings(self, workflow_id: str, trigger_ids: Sequence[str], per_trigger: int) -> dict[str, list[Firing]]:
        at = NOW - timedelta(minutes=5)
        parked = Firing("1", "exec_1", "parked", "email", 1, "parked", "engine said 404", 5, None, at, at, None)
        return {"parked": [parked]}

    def stuck_firings(self, workflow_id: str, unchanged_since: datetime) -> dict[str, Firing]:
        return {}


def test_the_worse_of_firings_and_polls_wins_and_equal_ones_give_both_reasons() -> None:
    healthy = TriggerHealth(Health.HEALTHY, "it has not fired yet")
    degraded = TriggerHealth(Health.DEGRADED, "2 poll(s) in a row failed")
    failing = TriggerHealth(Health.FAILING, "its last firing was parked")
    assert worse(healthy, degraded) == degraded
    assert worse(failing, degraded) == failing
    assert worse(healthy, None) == healthy
    assert worse(healthy, TriggerHealth(Health.HEALTHY, "last successful poll 40 s ago")) == TriggerHealth(
        Health.HEALTHY, "last successful poll 40 s ago; it has not fired yet"
    )


def test_get_triggers_shows_poll_health_of_active_e_mail_triggers() -> None:
    refused = PollState(
        last_attempt_at=NOW - timedelta(seconds=30),
        last_success_at=NOW - timedelta(hours=1),
        last_error_code="imap_login_refused",
        last_error="IMAP server imap.example.com:993 refused the login of 'ci'",
        consecutive_failures=3,
        failing_since=NOW - timedelta(minutes=10),
        backoff_until=NOW + timedelta(minutes=4),
    )
    polled = PollState(last_attempt_at=NOW - timedelta(seconds=40), last_success_at=NOW - timedelta(seconds=40))
    states = States({"refused": refused, "polled": polled, "paused": refused, "parked": polled})
    history = History(Firings(), Firings(), clock=lambda: NOW, polls=EmailPollHealth(states))
    records = [
        record("refused"),
        record("polled"),
        record("never", check_interval=300),  # deployed 2 h ago, never polled: stale
        record("paused", status=TriggerStatus.PAUSED),  # not polled while paused: its firings speak
        record("parked"),
        record("hook", TriggerType.WEBHOOK),
    ]
    seen = {tid: (a.health.status, a.health.reason) for tid, a in history.activity("wf", "alice", records).items()}
    assert seen["refused"][0] is Health.DEGRADED and "(imap_login_refused)" in seen["refused"][1]
    assert seen["polled"] == (Health.HEALTHY, "last successful poll 40 s ago; it has not fired yet")
    assert seen["never"][0] is Health.STALE and "3 intervals of 300 s" in seen["never"][1]
    assert seen["paused"] == (Health.HEALTHY, "it has not fired yet")
    assert seen["parked"][0] is Health.FAILING and "exec_1" in seen["parked"][1]
    assert seen["hook"] == (Health.HEALTHY, "it has not fired yet")
