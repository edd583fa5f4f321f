"""The redelivery sweep: GitHub never retries a failed delivery, so a scheduled job asks for it again (issue 9).

It lists the App's recent deliveries (every attempt, newest first), keeps the deliveries none of whose attempts
succeeded and that the service never recorded, and asks GitHub to redeliver each (the same ``X-GitHub-Delivery``,
so a delivery that did arrive after all is acknowledged and not processed twice). Bounded: at most
``max_redeliveries`` per run, at most ``max_attempts`` attempts per delivery, never one whose failure a
redelivery cannot fix (the body is too large or malformed). It also forgets deliveries past their retention.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from workflow_scheduler.domain.triggers.github.api import GithubApiError, GithubAppDeliveries, GithubRateLimited
from workflow_scheduler.domain.triggers.github.deliveries import SweepLedger

# Answers a redelivery of the same body gets again: too large, or not a delivery the service can read.
FUTILE_STATUSES = frozenset({400, 413, 415, 422})


@dataclass(frozen=True)
class SweepLimits:
    lookback: timedelta = timedelta(hours=6)  # GitHub redelivers deliveries of the past 3 days
    max_redeliveries: int = 50  # per run; the rest wait for the next run
    max_attempts: int = 3  # per delivery, the original included
    retention: timedelta = timedelta(days=30)  # recorded deliveries kept (past GitHub's 3-day window)


@dataclass
class SweepReport:
    listed: int = 0  # attempts GitHub listed
    failed: int = 0  # deliveries none of whose attempts succeeded
    recorded: int = 0  # of them, recorded here after all (the answer was lost, or came too late)
    redelivered: list[str] = field(default_factory=list)
    gave_up: list[str] = field(default_factory=list)  # max_attempts reached
    futile: list[str] = field(default_factory=list)  # the same body would fail again
    deferred: int = 0  # over max_redeliveries: the next run
    errors: list[str] = field(default_factory=list)
    pruned: int = 0
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Attempts:
    guid: str
    attempts: tuple[Mapping[str, Any], ...]  # newest first

    @property
    def succeeded(self) -> bool:
        return any(200 <= (_status(a) or 0) < 300 for a in self.attempts)


class RedeliverySweep:
    def __init__(
        self,
        deliveries: GithubAppDeliveries | None,
        ledger: SweepLedger,
        limits: SweepLimits | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._deliveries = deliveries  # None: no App credentials
        self._ledger = ledger
        self._limits = limits or SweepLimits()
        self._clock = clock

    def run(self) -> SweepReport:
        """One sweep; ``GithubApiError`` when the App's deliveries cannot be listed (the run failed: it alarms)."""
        now = self._clock()
        report = SweepReport(pruned=self._ledger.prune(now - self._limits.retention))
        if self._deliveries is None:
            report.note = "the GitHub App's credentials are not configured: the App's deliveries cannot be listed"
        else:
            self._redeliver(self._deliveries, now, report)
        return report

    def _redeliver(self, deliveries: GithubAppDeliveries, now: datetime, report: SweepReport) -> None:
        listed = deliveries.list_deliveries(since=now - self._limits.lookback)
        report.listed = len(listed)
        failed = [d for d in _by_delivery(listed) if not d.succeeded]
        report.failed = len(failed)
        recorded = self._ledger.recorded([d.guid for d in failed]) if failed else set()
        report.recorded = len(recorded)
        for delivery in reversed(failed):  # oldest first: events in the order they happened
            if delivery.guid in recorded:
                continue
            if len(delivery.attempts) >= self._limits.max_attempts:
                report.gave_up.append(delivery.guid)
            elif _status(delivery.attempts[0]) in FUTILE_STATUSES:
                report.futile.append(delivery.guid)
            elif len(report.redelivered) >= self._limits.max_redeliveries:
                report.deferred += 1
            elif not self._ask(deliveries, delivery, report):
                return

    def _ask(self, deliveries: GithubAppDeliveries, delivery: _Attempts, report: SweepReport) -> bool:
        """Ask for one redelivery; False when the run must stop (GitHub's rate limit)."""
        try:
            deliveries.redeliver(int(delivery.attempts[0]["id"]))
        except GithubRateLimited as exc:
            report.errors.append(f"{delivery.guid}: {exc.message}; the next run goes on")
            return False
        except GithubApiError as exc:
            report.errors.append(f"{delivery.guid}: {exc.message}")
            return True
        report.redelivered.append(delivery.guid)
        return True


def _by_delivery(listed: list[dict[str, Any]]) -> list[_Attempts]:
    """The attempts grouped by delivery (``guid``, the ``X-GitHub-Delivery``), newest delivery first."""
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for attempt in listed:
        guid, attempt_id = attempt.get("guid"), attempt.get("id")
        if isinstance(guid, str) and guid and isinstance(attempt_id, int):
            grouped.setdefault(guid, []).append(attempt)
    return [_Attempts(guid, tuple(attempts)) for guid, attempts in grouped.items()]


def _status(attempt: Mapping[str, Any]) -> int | None:
    code = attempt.get("status_code")
    return code if isinstance(code, int) else None
