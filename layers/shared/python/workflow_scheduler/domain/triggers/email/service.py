"""The scheduled e-mail poll (issue 10, "Poller"): which triggers are due, with which mailbox and credential, and
what their polls leave behind (health, back-off, what to report).

Every run lists the active e-mail triggers with their last ``PollState``, turns each trigger's configuration into
an ``EmailWatch`` (a trigger that names no mailbox uses the service-wide one: ``IMAP_SERVER``, ``EMAIL_USER``,
``EMAIL_PASSWORD``), keeps those that are due (their interval passed, not backed off), checks that each may use
the secrets it names (the owner's own, as a webhook's at firing time), and polls them a mailbox at a time with
``EmailPoller``. The new states are saved in one write; the report says what fired, what failed (a failure once,
when it starts), and each trigger's health.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol

from workflow_scheduler.domain.errors import DomainError, Invalid
from workflow_scheduler.domain.firing import FiringTarget
from workflow_scheduler.domain.history import Health, TriggerHealth
from workflow_scheduler.domain.models import TriggerRecord
from workflow_scheduler.domain.ports import CallRunner, run_in_turn
from workflow_scheduler.domain.triggers.email.filter import parse_filter
from workflow_scheduler.domain.triggers.email.health import (
    PollState,
    after_failure,
    after_success,
    email_health,
    is_due,
    newly_failing,
)
from workflow_scheduler.domain.triggers.email.mailbox import (
    SERVICE_PASSWORD,
    Credential,
    OAuthSecrets,
    PasswordSecret,
)
from workflow_scheduler.domain.triggers.email.message import AttachmentProcessing
from workflow_scheduler.domain.triggers.email.poll import (
    DEFAULT_INTERVAL,
    EmailPoller,
    EmailWatch,
    MailboxAddress,
    TriggerPoll,
)

DEFAULT_IMAP_PORT = 993
# A mailbox is started only with this much of the run's time left. A run cut short mid-mailbox loses nothing (the
# cursor moves only after the queue took a firing, and its lock outlives the run), but its work is wasted.
MIN_SECONDS_TO_START = 20.0


class MailboxNotConfigured(Invalid):
    """The trigger's configuration names no usable mailbox or credential."""

    code = "email_mailbox_not_configured"


@dataclass(frozen=True)
class DefaultMailbox:
    """The service-wide mailbox (seed: ``IMAP_SERVER``, ``EMAIL_USER``, ``EMAIL_PASSWORD``); its password stays
    with the adapter that logs in (``ServicePassword``)."""

    host: str
    username: str
    port: int = DEFAULT_IMAP_PORT
    use_ssl: bool = True

    @classmethod
    def parse(cls, server: str, username: str, use_ssl: bool = True) -> DefaultMailbox:
        """``IMAP_SERVER`` is ``host`` or ``host:port`` (993 by default)."""
        host, _, port = server.strip().rpartition(":") if ":" in server else (server.strip(), "", "")
        if not host or (port and not (port.isdigit() and 0 < int(port) < 65536)):
            raise MailboxNotConfigured(f"IMAP_SERVER must be host or host:port, not {server!r}")
        return cls(host, username, int(port) if port else DEFAULT_IMAP_PORT, use_ssl)


# The service-wide mailbox as configured now (None: none), read when a trigger needs it.
DefaultMailboxSource = Callable[[], DefaultMailbox | None]


def no_default_mailbox() -> DefaultMailbox | None:
    return None


@dataclass(frozen=True)
class ListedTrigger:
    """An active e-mail trigger of a deployed workflow, and what its last polls left."""

    target: FiringTarget
    state: PollState = field(default_factory=PollState)


class EmailTriggerStore(Protocol):
    def active_triggers(self) -> list[ListedTrigger]:
        """Every active e-mail trigger of a deployed workflow, with its poll state (a fresh one when its
        configuration changed since the state was recorded)."""

    def save_states(self, states: Sequence[tuple[TriggerRecord, PollState]]) -> None:
        """Record the triggers' new poll states, each for the trigger's current configuration."""


# Raises unless the trigger may use the secret (its owner's own; a managed one only its own trigger's).
SecretAccessCheck = Callable[[str, FiringTarget], None]


def _text(config: Mapping[str, Any], key: str) -> str | None:
    value = config.get(key)
    return value if isinstance(value, str) and value else None


def _credential(config: Mapping[str, Any], trigger_id: str) -> Credential:
    if config.get("auth") == "xoauth2":
        token_url, client_id = _text(config, "oauth_token_url"), _text(config, "oauth_client_id")
        if token_url is None or client_id is None:
            raise MailboxNotConfigured(
                f"e-mail trigger {trigger_id!r}: xoauth2 needs oauth_token_url and oauth_client_id"
            )
        return OAuthSecrets(
            token_url,
            client_id,
            client_secret_ref=_text(config, "oauth_client_secret_ref"),
            refresh_token_ref=_text(config, "oauth_refresh_token_ref"),
            scope=_text(config, "oauth_scope"),
        )
    ref = _text(config, "password_ref")
    if ref is None:
        raise MailboxNotConfigured(f"e-mail trigger {trigger_id!r} names imap_host but no password_ref")
    return PasswordSecret(ref)


def check_interval(config: Mapping[str, Any], default: timedelta = DEFAULT_INTERVAL) -> timedelta:
    """How often the trigger is polled: its ``check_interval`` (seconds), else the service's default. Its health is
    judged against the same interval (``email_health``)."""
    seconds = config.get("check_interval")
    return timedelta(seconds=seconds) if isinstance(seconds, int) and seconds > 0 else default


def watch_from_target(
    target: FiringTarget,
    default_mailbox: DefaultMailboxSource = no_default_mailbox,
    default_interval: timedelta = DEFAULT_INTERVAL,
) -> EmailWatch:
    """The stored configuration of an e-mail trigger as the poller needs it.

    The one place that reads the parameters' names (``email/params.py`` defines them): ``imap_host``,
    ``imap_port``, ``use_ssl``, ``username``, ``password_ref`` or ``auth: "xoauth2"`` with ``oauth_token_url``,
    ``oauth_client_id``, ``oauth_client_secret_ref``, ``oauth_refresh_token_ref``, ``oauth_scope``; ``folder``,
    ``email_filter``, ``mark_as_read``, ``attachment_processing``, ``check_interval``.
    """
    config, trigger_id = target.trigger.config, target.trigger.trigger_id
    host = _text(config, "imap_host")
    credential: Credential
    if host is not None:
        username = _text(config, "username")
        if username is None:
            raise MailboxNotConfigured(f"e-mail trigger {trigger_id!r} names imap_host but no username")
        port = int(config.get("imap_port") or DEFAULT_IMAP_PORT)
        use_ssl = config.get("use_ssl", True) is not False
        credential = _credential(config, trigger_id)
    elif (default := default_mailbox()) is not None:
        host, username, port, use_ssl = default.host, default.username, default.port, default.use_ssl
        credential = SERVICE_PASSWORD
    else:
        raise MailboxNotConfigured(
            f"e-mail trigger {trigger_id!r} names no imap_host and the service has no default mailbox"
            " (IMAP_SERVER, EMAIL_USER, EMAIL_PASSWORD)"
        )
    interval = check_interval(config, default_interval)
    # Triggers share a session only when they log in the same way, over the same kind of connection.
    session = f"{credential.key}|{'tls' if use_ssl else 'starttls'}"
    return EmailWatch(
        target,
        MailboxAddress(host, username, _text(config, "folder") or "INBOX", port, credential=session),
        parse_filter(_text(config, "email_filter") or ""),
        mark_as_read=config.get("mark_as_read") is True,
        attachment_processing=AttachmentProcessing(_text(config, "attachment_processing") or "exclude"),
        use_ssl=use_ssl,
        credential=credential,
        interval=interval,
    )


class Skip:
    """Why a trigger was not polled in a run."""

    NOT_DUE = "not_due"  # its interval has not passed
    BACKED_OFF = "backed_off"  # its mailbox refused it; the next attempt waits
    LOCKED_OUT = "locked_out"  # another poll had the mailbox
    OUT_OF_TIME = "out_of_time"  # the run had no time left to start its mailbox


@dataclass(frozen=True)
class TriggerReport:
    target: FiringTarget
    mailbox: str  # user@host/folder ("" when the configuration names none)
    state: PollState  # after the run
    health: TriggerHealth
    poll: TriggerPoll | None = None  # None: not polled in this run
    skipped: str | None = None  # a ``Skip`` value
    newly_failing: bool = False  # the failure starts (or changed kind) with this run: report it
    recovered: bool = False  # it was failing and this run's poll succeeded

    @property
    def key(self) -> tuple[str, str]:
        return self.target.trigger.workflow_id, self.target.trigger.trigger_id


@dataclass
class PollReport:
    triggers: list[TriggerReport] = field(default_factory=list)

    @property
    def polled(self) -> int:
        return sum(1 for t in self.triggers if t.poll is not None and not t.poll.locked_out)

    @property
    def fired(self) -> int:
        return sum(len(t.poll.fired) for t in self.triggers if t.poll is not None)

    def count(self, health: Health) -> int:
        return sum(1 for t in self.triggers if t.health.status == health)

    def as_dict(self) -> dict[str, Any]:
        skipped: dict[str, int] = defaultdict(int)
        for trigger in self.triggers:
            if trigger.skipped:
                skipped[trigger.skipped] += 1
        return {
            "triggers": len(self.triggers),
            "polled": self.polled,
            "fired": self.fired,
            "failing": self.count(Health.DEGRADED),
            "stale": self.count(Health.STALE),
            "skipped": dict(skipped),
        }


@dataclass
class _Planned:
    listed: ListedTrigger
    watch: EmailWatch | None = None
    poll: TriggerPoll | None = None
    skipped: str | None = None


class EmailPollService:
    def __init__(
        self,
        store: EmailTriggerStore,
        poller: EmailPoller,
        *,
        default_mailbox: DefaultMailboxSource = no_default_mailbox,
        default_interval: timedelta = DEFAULT_INTERVAL,
        check_secret: SecretAccessCheck | None = None,
        run_all: CallRunner = run_in_turn,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._poller = poller
        self._default = default_mailbox
        self._interval = default_interval
        self._check_secret = check_secret
        self._run_all = run_all
        self._clock = clock

    def run(self, seconds_left: Callable[[], float] | None = None) -> PollReport:
        """One scheduled poll of every due trigger; ``seconds_left`` is the invocation's remaining time."""
        now = self._clock()
        planned = [self._plan(listed, now) for listed in self._store.active_triggers()]
        groups: dict[str, dict[MailboxAddress, list[_Planned]]] = defaultdict(lambda: defaultdict(list))
        for item in planned:
            if item.watch is not None and item.poll is None and item.skipped is None:
                groups[item.watch.mailbox.identity][item.watch.mailbox].append(item)
        # The mailboxes tried longest ago go first, so a run short of time never starves the same ones; the
        # sessions of one mailbox (other credentials) run one after another: they share its lock.
        order = sorted(groups.values(), key=lambda by_address: min(_last_attempt(by_address)))
        self._run_all([partial(self._poll_mailbox, by_address, seconds_left) for by_address in order])
        return self._finish(planned)

    def _plan(self, listed: ListedTrigger, now: datetime) -> _Planned:
        item = _Planned(listed)
        try:
            item.watch = watch_from_target(listed.target, self._default, self._interval)
        except DomainError as exc:  # no usable mailbox (backed off like a refused login), or its settings unread
            if is_due(listed.state, self._interval, now):
                item.poll = _failed(listed.target, exc, now)
            else:
                item.skipped = _why_not_due(listed.state, now)
            return item
        if not is_due(listed.state, item.watch.interval, now):
            item.skipped = _why_not_due(listed.state, now)
            return item
        try:
            for ref in item.watch.credential.secret_refs:
                if self._check_secret is not None:
                    self._check_secret(ref, listed.target)
        except DomainError as exc:
            item.poll = _failed(listed.target, exc, now)
        return item

    def _poll_mailbox(
        self, by_address: Mapping[MailboxAddress, list[_Planned]], seconds_left: Callable[[], float] | None
    ) -> None:
        for address, items in by_address.items():
            if seconds_left is not None and seconds_left() < MIN_SECONDS_TO_START:
                for item in items:
                    item.skipped = Skip.OUT_OF_TIME
                continue
            watches = [item.watch for item in items if item.watch is not None]
            for item, poll in zip(items, self._poller.poll_mailbox(address, watches), strict=True):
                item.poll = poll
                if poll.locked_out:
                    item.skipped = Skip.LOCKED_OUT

    def _finish(self, planned: list[_Planned]) -> PollReport:
        now = self._clock()
        report = PollReport()
        changed: list[tuple[TriggerRecord, PollState]] = []
        for item in planned:
            before = item.listed.state
            state = before
            poll = item.poll
            if poll is not None and not poll.locked_out:
                when = poll.finished_at or now
                interval = item.watch.interval if item.watch else self._interval
                state = (
                    after_success(before, when)
                    if poll.error is None
                    else after_failure(before, poll.error, when, interval)
                )
                changed.append((item.listed.target.trigger, state))
            interval = item.watch.interval if item.watch else self._interval
            deployed_at = item.listed.target.trigger.updated_at or item.listed.target.trigger.created_at or now
            report.triggers.append(
                TriggerReport(
                    target=item.listed.target,
                    mailbox=item.watch.mailbox.identity if item.watch else "",
                    state=state,
                    health=email_health(state, interval, now, deployed_at),
                    poll=poll,
                    skipped=item.skipped,
                    newly_failing=newly_failing(before, state),
                    recovered=before.failing and not state.failing,
                )
            )
        if changed:
            self._store.save_states(changed)
        return report


def _failed(target: FiringTarget, error: DomainError, now: datetime) -> TriggerPoll:
    record = target.trigger
    return TriggerPoll(record.workflow_id, record.trigger_id, error=error, finished_at=now)


def _why_not_due(state: PollState, now: datetime) -> str:
    return Skip.BACKED_OFF if state.backoff_until is not None and state.backoff_until > now else Skip.NOT_DUE


def _last_attempt(by_address: Mapping[MailboxAddress, list[_Planned]]) -> list[datetime]:
    never = datetime.min.replace(tzinfo=UTC)
    return [item.listed.state.last_attempt_at or never for items in by_address.values() for item in items]
