"""The health of an e-mail trigger's polls (issue 10, "Health per trigger"), and when it is polled next.

Each poll of a trigger leaves a ``PollState``: when it was last tried and last succeeded, the last error and how
many polls in a row failed. A refused mailbox (refused login, unreachable host, TLS, missing folder, a trigger
that names no usable mailbox) is backed off: the next attempt waits twice the interval, doubling with each
failure up to an hour, so a wrong password is not tried every minute for ever (and does not get the account
locked by the provider). An outage (a connection lost mid-poll, the queue down) is retried at the next interval.
A failure is reported once, when it starts or when its kind changes; ``email_health`` shows it all along.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from workflow_scheduler.domain.errors import DomainError, Invalid
from workflow_scheduler.domain.history import Health, TriggerHealth

# The schedule invokes the poller about every minute, give or take: a trigger whose interval has nearly passed
# is polled now rather than a whole minute late.
SCHEDULE_SLACK = timedelta(seconds=15)
MAX_BACKOFF = timedelta(hours=1)
STALE_INTERVALS = 3  # no successful poll for this many intervals: stale
MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class PollState:
    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error_code: str | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    failing_since: datetime | None = None
    backoff_until: datetime | None = None  # a refused mailbox is not tried again before this

    @property
    def failing(self) -> bool:
        return self.consecutive_failures > 0


def backs_off(error: DomainError) -> bool:
    """Errors that say the mailbox cannot be used as configured: retrying at once cannot help."""
    return isinstance(error, Invalid)


def backoff_delay(failures: int, interval: timedelta) -> timedelta:
    """Twice the interval after the first refusal, doubling after each, at most ``MAX_BACKOFF``."""
    return min(MAX_BACKOFF, interval * (1 << min(failures, 20)))


def after_success(state: PollState, now: datetime) -> PollState:
    return PollState(last_attempt_at=now, last_success_at=now)


def after_failure(state: PollState, error: DomainError, now: datetime, interval: timedelta) -> PollState:
    failures = state.consecutive_failures + 1
    return replace(
        state,
        last_attempt_at=now,
        last_error_code=error.code,
        last_error=error.message[:MAX_ERROR_CHARS],
        consecutive_failures=failures,
        failing_since=state.failing_since if state.failing else now,
        backoff_until=now + backoff_delay(failures, interval) if backs_off(error) else None,
    )


def newly_failing(before: PollState, after: PollState) -> bool:
    """Whether this failure is to be reported: the first of a streak, or another kind of error than the last."""
    return after.failing and (not before.failing or before.last_error_code != after.last_error_code)


def is_due(state: PollState, interval: timedelta, now: datetime) -> bool:
    """Whether the trigger is to be polled now: its interval has passed and it is not backed off."""
    if state.backoff_until is not None and now + SCHEDULE_SLACK < state.backoff_until:
        return False
    return state.last_attempt_at is None or now + SCHEDULE_SLACK >= state.last_attempt_at + interval


def _ago(now: datetime, then: datetime) -> str:
    seconds = int((now - then).total_seconds())
    if seconds < 120:
        return f"{seconds} s ago"
    minutes = seconds // 60
    return f"{minutes} min ago" if minutes < 120 else f"{minutes // 60} h ago"


def email_health(state: PollState, interval: timedelta, now: datetime, deployed_at: datetime) -> TriggerHealth:
    """A trigger's poll health, in the vocabulary of ``domain.history``.

    stale: no successful poll for ``STALE_INTERVALS`` intervals (since the deploy, when it never succeeded)
    while the poller was not seen failing, or the poller has not even tried for that long after it was due;
    degraded: the last poll failed (the reason says why, since when, and when it is tried again);
    healthy: otherwise.
    """
    window = interval * STALE_INTERVALS
    if state.failing and state.last_attempt_at is not None:
        due = max(state.last_attempt_at + interval, state.backoff_until or state.last_attempt_at)
        if now - due > window:
            return TriggerHealth(
                Health.STALE,
                f"the poller has not tried the mailbox since {_ago(now, state.last_attempt_at)}"
                f" (it was due {_ago(now, due)}): is the e-mail poller running?",
            )
        since = state.failing_since or state.last_attempt_at
        retry = f"; next attempt {state.backoff_until.isoformat()}" if state.backoff_until else ""
        return TriggerHealth(
            Health.DEGRADED,
            f"{state.consecutive_failures} poll(s) in a row failed since {_ago(now, since)}"
            f" ({state.last_error_code}): {state.last_error}{retry}",
        )
    last_good = state.last_success_at or deployed_at
    if now - last_good > window:
        window_text = f"({STALE_INTERVALS} intervals of {int(interval.total_seconds())} s)"
        if state.last_success_at is None:
            what = f"no successful poll since the deploy {_ago(now, last_good)}"
        else:
            what = f"no successful poll for {_ago(now, last_good).removesuffix(' ago')}"
        return TriggerHealth(Health.STALE, f"{what} {window_text}")
    if state.last_success_at is None:
        return TriggerHealth(Health.HEALTHY, "not polled yet: deployed " + _ago(now, deployed_at))
    return TriggerHealth(Health.HEALTHY, f"last successful poll {_ago(now, state.last_success_at)}")
