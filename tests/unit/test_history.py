"""Trigger health (unit): what happened to a trigger's recent firings, in one word and a reason."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.unit.test_dispatch import NOW
from workflow_scheduler.domain.history import Firing, Health, trigger_health

STALE_AFTER = timedelta(hours=1)


def fired(status: str, minutes_ago: float = 5, n: int = 0, error: str | None = None, attempts: int = 1) -> Firing:
    at = NOW - timedelta(minutes=minutes_ago)
    return Firing(str(n), f"exec_{n}", "t", "manual", 1, status, error, attempts, None, at, at, None)


def health(recent: list[Firing], stuck: Firing | None = None) -> tuple[Health, str]:
    verdict = trigger_health(recent, stuck, NOW, STALE_AFTER)
    return verdict.status, verdict.reason


def test_a_trigger_that_never_fired_or_whose_firings_got_through_is_healthy() -> None:
    assert health([]) == (Health.HEALTHY, "it has not fired yet")
    assert health([fired("dispatched", n=2), fired("dispatched", n=1)])[0] is Health.HEALTHY
    assert health([fired("queued", 0, n=2), fired("dispatched", n=1)]) == (
        Health.HEALTHY,
        "its last firing is queued for the engine",
    )


@pytest.mark.parametrize("status", ["failed", "parked"])
def test_a_trigger_whose_last_outcome_did_not_get_through_is_failing(status: str) -> None:
    recent = [fired("queued", 0, n=3), fired(status, n=2, error="the engine answered 404: gone"), fired("dispatched")]
    verdict, reason = health(recent)
    assert verdict is Health.FAILING
    assert "exec_2" in reason and status in reason and "the engine answered 404: gone" in reason


def test_a_firing_accepted_and_never_resolved_makes_the_trigger_stale() -> None:
    stuck = fired("queued", minutes_ago=180, n=1)
    verdict, reason = health([fired("dispatched", n=2), stuck], stuck)
    assert verdict is Health.STALE
    assert "exec_1" in reason and "3 h ago" in reason and "still queued" in reason and "dead-letter queue" in reason


def test_a_trigger_being_retried_or_with_recent_failures_is_degraded() -> None:
    verdict, reason = health([fired("retrying", n=2, error="the engine answered 503: busy", attempts=3)])
    assert verdict is Health.DEGRADED and "exec_2" in reason and "3 attempt(s)" in reason and "503" in reason

    verdict, reason = health([fired("dispatched", n=3), fired("parked", 30, n=2), fired("dispatched", 60, n=1)])
    assert verdict is Health.DEGRADED and reason.startswith("1 of its last 3 firings did not get through")
    # A failure older than a day no longer counts.
    assert health([fired("dispatched", n=3), fired("parked", 25 * 60, n=2)])[0] is Health.HEALTHY
