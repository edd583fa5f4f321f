"""The scheduled e-mail poll on fakes: which triggers are due, back-off after a refused mailbox (reported once),
health (healthy, degraded, stale), the service-wide mailbox, secret ownership, and the run's time budget."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.fake_mailbox import FakeAccount, FakeAttachmentStore, ManualClock, MemoryCursors, alert_mail
from tests.support.fakes import MemoryFiringStore, MemoryQueue
from workflow_scheduler.domain.errors import SecretUnavailable
from workflow_scheduler.domain.firing import FiringService, FiringTarget
from workflow_scheduler.domain.history import Health
from workflow_scheduler.domain.locks import LockNotAcquired
from workflow_scheduler.domain.models import DeploymentStatus, TriggerRecord, TriggerStatus, TriggerType
from workflow_scheduler.domain.triggers.email.health import MAX_BACKOFF, PollState, email_health
from workflow_scheduler.domain.triggers.email.mailbox import (
    SERVICE_PASSWORD,
    MailboxFailed,
    MailboxLoginRefused,
    OAuthSecrets,
    PasswordSecret,
)
from workflow_scheduler.domain.triggers.email.poll import Cursor, EmailPoller, EmailWatch, MailboxAddress
from workflow_scheduler.domain.triggers.email.service import (
    DefaultMailbox,
    EmailPollService,
    ListedTrigger,
    MailboxNotConfigured,
    Skip,
    watch_from_target,
)

DEPLOYED = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
OWN = {"imap_host": "imap.example.com", "username": "ci@example.com", "password_ref": "team/imap"}
SERVICE = DefaultMailbox("imap.service.example", "workflows@service.example")


class Triggers:
    """The ``EmailTriggerStore``: the deployed triggers and the states the service saved."""

    def __init__(self) -> None:
        self.targets: list[FiringTarget] = []
        self.states: dict[tuple[str, str], PollState] = {}

    def add(self, trigger_id: str, **config: Any) -> FiringTarget:
        record = TriggerRecord(
            "wf", trigger_id, TriggerType.EMAIL, config, "hash", 1, TriggerStatus.ACTIVE, created_at=DEPLOYED
        )
        target = FiringTarget(DeploymentStatus.DEPLOYED, "owner", record)
        self.targets.append(target)
        return target

    def active_triggers(self) -> list[ListedTrigger]:
        key = lambda t: (t.trigger.workflow_id, t.trigger.trigger_id)  # noqa: E731
        return [ListedTrigger(t, self.states.get(key(t), PollState())) for t in self.targets]

    def save_states(self, states: Sequence[tuple[TriggerRecord, PollState]]) -> None:
        for record, state in states:
            self.states[(record.workflow_id, record.trigger_id)] = state


class Locks:
    def __init__(self) -> None:
        self.taken: set[str] = set()  # held by "another poller"

    @contextmanager
    def hold(self, name: str, lease_seconds: float, wait_seconds: float = 0) -> Iterator[str]:
        if name in self.taken:
            raise LockNotAcquired(name)
        yield name


class World:
    def __init__(self, default: DefaultMailbox | None = SERVICE, check: Any = None) -> None:
        self.clock = ManualClock(DEPLOYED)
        self.account = FakeAccount()
        self.opened: list[EmailWatch] = []
        self.triggers = Triggers()
        self.cursors = MemoryCursors()
        self.queue = MemoryQueue()
        self.locks = Locks()
        firing = FiringService(MemoryFiringStore(), self.queue, clock=self.clock)
        poller = EmailPoller(self.cursors, firing, self.locks, self.open, FakeAttachmentStore(), clock=self.clock)
        self.service = EmailPollService(
            self.triggers, poller, default_mailbox=lambda: default, check_secret=check, clock=self.clock
        )

    def open(self, watch: EmailWatch) -> Any:
        self.opened.append(watch)
        return self.account.open()

    def deploy(self, trigger_id: str, **config: Any) -> None:
        self.triggers.add(trigger_id, **config)
        folder = self.account.inbox
        self.cursors.values[("wf", trigger_id)] = Cursor(folder.uidvalidity, folder.uidnext - 1)

    def state(self, trigger_id: str = "mail") -> PollState:
        return self.triggers.states[("wf", trigger_id)]


def refuse_login(world: World) -> None:
    world.account.fail["open"] = MailboxLoginRefused("imap.example.com refused the login of 'ci@example.com'")


def test_a_refused_login_is_reported_once_and_backed_off_doubling_up_to_an_hour() -> None:
    world = World()
    world.deploy("mail", **OWN)
    assert world.service.run().triggers[0].health.status == Health.HEALTHY

    world.clock.advance(MINUTE)
    refuse_login(world)
    [first] = world.service.run().triggers
    assert first.newly_failing and first.health.status == Health.DEGRADED
    assert "refused the login" in first.health.reason and "imap_login_refused" in first.health.reason
    assert world.state().backoff_until == world.clock.now + 2 * MINUTE

    world.clock.advance(MINUTE)  # backed off: no login is tried
    opened = len(world.opened)
    [waiting] = world.service.run().triggers
    assert waiting.skipped == Skip.BACKED_OFF and len(world.opened) == opened
    assert waiting.health.status == Health.DEGRADED

    waits = []
    for _ in range(8):
        world.clock.now = world.state().backoff_until or world.clock.now
        refuse_login(world)
        [again] = world.service.run().triggers
        assert again.poll is not None and not again.newly_failing  # reported once, not at every attempt
        waits.append((world.state().backoff_until or world.clock.now) - world.clock.now)
    assert waits[:4] == [4 * MINUTE, 8 * MINUTE, 16 * MINUTE, 32 * MINUTE]
    assert waits[-1] == MAX_BACKOFF and world.state().consecutive_failures == 9

    world.clock.now = world.state().backoff_until or world.clock.now
    world.account.inbox.append(alert_mail("after the fix"))
    [fixed] = world.service.run().triggers
    assert fixed.health.status == Health.HEALTHY and world.state() == PollState(world.clock.now, world.clock.now)
    assert [event.data["subject"] for event, _ in world.queue.sent] == ["after the fix"]


def test_an_outage_is_retried_at_the_next_interval_without_back_off() -> None:
    world = World()
    world.deploy("mail", **OWN)
    world.account.fail["search"] = MailboxFailed("connection reset")
    [failed] = world.service.run().triggers
    assert failed.newly_failing and failed.health.status == Health.DEGRADED
    assert world.state().backoff_until is None

    world.clock.advance(MINUTE)
    world.account.fail["search"] = MailboxFailed("connection reset")
    [again] = world.service.run().triggers
    assert again.poll is not None and not again.newly_failing and world.state().consecutive_failures == 2


def test_another_kind_of_error_is_reported_again() -> None:
    world = World()
    world.deploy("mail", **OWN)
    world.account.fail["search"] = MailboxFailed("connection reset")
    world.service.run()
    world.clock.advance(MINUTE)
    refuse_login(world)
    [changed] = world.service.run().triggers
    assert changed.newly_failing and world.state().last_error_code == "imap_login_refused"


def test_stale_after_three_intervals_without_a_successful_poll() -> None:
    world = World()
    world.deploy("mail", **OWN)
    world.locks.taken.add(MailboxAddress("imap.example.com", "ci@example.com").lock_name)  # a stuck poller
    for minutes in (1, 2, 3):
        world.clock.now = DEPLOYED + minutes * MINUTE
        [result] = world.service.run().triggers
        assert result.skipped == Skip.LOCKED_OUT
        assert result.health.status == Health.HEALTHY  # not yet 3 intervals
    world.clock.now = DEPLOYED + 3 * MINUTE + timedelta(seconds=1)
    [stale] = world.service.run().triggers
    assert stale.health.status == Health.STALE and "no successful poll since the deploy" in stale.health.reason
    assert world.service.run().count(Health.STALE) == 1

    world.locks.taken.clear()
    [polled] = world.service.run().triggers
    assert polled.health.status == Health.HEALTHY


def test_email_health_calls_a_failing_trigger_stale_when_the_poller_stopped_trying() -> None:
    failing = PollState(
        last_attempt_at=DEPLOYED,
        last_success_at=DEPLOYED - MINUTE,
        last_error_code="imap_failed",
        last_error="connection reset",
        consecutive_failures=1,
        failing_since=DEPLOYED,
    )
    assert email_health(failing, MINUTE, DEPLOYED + 3 * MINUTE, DEPLOYED).status == Health.DEGRADED
    stopped = email_health(failing, MINUTE, DEPLOYED + 5 * MINUTE, DEPLOYED)
    assert stopped.status == Health.STALE and "is the e-mail poller running" in stopped.reason


def test_a_trigger_is_polled_at_its_own_check_interval() -> None:
    world = World()
    world.deploy("slow", **OWN, check_interval=300)
    world.deploy("fast", **{**OWN, "password_ref": "team/other"})
    polled: dict[str, int] = {"slow": 0, "fast": 0}
    for _ in range(10):
        for report in world.service.run().triggers:
            polled[report.key[1]] += report.poll is not None
        world.clock.advance(MINUTE)
    assert polled == {"slow": 2, "fast": 10}


def test_the_service_mailbox_serves_triggers_that_name_none() -> None:
    world = World()
    world.deploy("mail", folder="Alerts")
    world.account.folders["Alerts"] = world.account.inbox
    world.account.inbox.append(alert_mail("to the service"))
    world.service.run()
    [watch] = world.opened
    assert watch.credential == SERVICE_PASSWORD
    assert watch.mailbox.identity == "workflows@service.example@imap.service.example/Alerts"
    assert [event.data["subject"] for event, _ in world.queue.sent] == ["to the service"]


def test_without_a_service_mailbox_a_trigger_naming_none_is_refused_and_backed_off() -> None:
    world = World(default=None)
    world.deploy("mail")
    [report] = world.service.run().triggers
    assert isinstance(report.poll and report.poll.error, MailboxNotConfigured)
    assert "no default mailbox" in report.health.reason and world.state().backoff_until is not None
    assert world.opened == []


def test_a_secret_the_trigger_may_not_use_stops_only_that_trigger() -> None:
    def check(secret_ref: str, target: FiringTarget) -> None:
        if target.trigger.trigger_id == "intruder":
            raise SecretUnavailable("the trigger's secret cannot be used")

    world = World(check=check)
    world.deploy("mail", **OWN)
    world.deploy("intruder", **OWN)
    world.account.inbox.append(alert_mail("hello"))
    reports = {r.key[1]: r for r in world.service.run().triggers}
    assert reports["intruder"].health.status == Health.DEGRADED
    assert "cannot be used" in reports["intruder"].health.reason
    assert reports["mail"].health.status == Health.HEALTHY
    assert [(event.trigger_id, event.data["subject"]) for event, _ in world.queue.sent] == [("mail", "hello")]


def test_no_mailbox_is_started_without_time_for_it() -> None:
    world = World()
    world.deploy("mail", **OWN)
    [report] = world.service.run(seconds_left=lambda: 10.0).triggers
    assert report.skipped == Skip.OUT_OF_TIME and world.opened == [] and world.triggers.states == {}


def test_watch_from_target_reads_every_parameter() -> None:
    config = {
        "imap_host": "outlook.office365.com",
        "imap_port": 143,
        "use_ssl": False,
        "username": "ops@example.com",
        "auth": "xoauth2",
        "oauth_token_url": "https://login.example/token",
        "oauth_client_id": "app",
        "oauth_refresh_token_ref": "ops/refresh",
        "folder": "Builds",
        "email_filter": "from:ci subject:failed",
        "mark_as_read": True,
        "attachment_processing": "metadata",
        "check_interval": 120,
    }
    watch = watch_from_target(Triggers().add("t", **config))
    assert watch.mailbox == MailboxAddress(
        "outlook.office365.com", "ops@example.com", "Builds", 143, watch.mailbox.credential
    )
    assert watch.credential == OAuthSecrets("https://login.example/token", "app", None, "ops/refresh", None)
    assert watch.credential.secret_refs == ("ops/refresh",)
    assert (watch.use_ssl, watch.mark_as_read, watch.attachment_processing.value) == (False, True, "metadata")
    assert watch.interval == 2 * MINUTE and watch.email_filter.search_criteria()
    plain = watch_from_target(Triggers().add("t", **OWN))
    assert plain.credential == PasswordSecret("team/imap") and plain.mailbox.credential != watch.mailbox.credential


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"imap_host": "h"}, "no username"),
        ({"imap_host": "h", "username": "u"}, "no password_ref"),
        ({"imap_host": "h", "username": "u", "auth": "xoauth2"}, "oauth_token_url"),
    ],
)
def test_watch_from_target_names_what_is_missing(config: dict[str, Any], problem: str) -> None:
    with pytest.raises(MailboxNotConfigured, match=problem):
        watch_from_target(Triggers().add("t", **config))


@pytest.mark.parametrize(
    ("server", "expected"),
    [("imap.gmail.com", ("imap.gmail.com", 993)), ("127.0.0.1:1993", ("127.0.0.1", 1993))],
)
def test_the_service_mailbox_server_is_host_or_host_and_port(server: str, expected: tuple[str, int]) -> None:
    parsed = DefaultMailbox.parse(server, "u")
    assert (parsed.host, parsed.port) == expected
    with pytest.raises(MailboxNotConfigured, match="host:port"):
        DefaultMailbox.parse("imap.gmail.com:imaps", "u")
