"""Bounded firing history (issue 11): ``trigger_events`` keeps at least the retention period and loses whole months.

The history is partitioned by calendar month (UTC). A retention run creates the partitions of this month and the
next ``MONTHS_AHEAD`` before any firing needs them, then drops the partitions of the months that lie wholly before
``now - retention`` (no row-by-row delete, no vacuum debt, a cost that does not grow with the table): a firing is
kept at least the retention period and at most one month longer. The claims of execution ids (one small row per
accepted firing, which keeps duplicates refused) expire daily at exactly the retention period, a day's worth per
run. That is how long a webhook ``Idempotency-Key`` is remembered, so the retention may never be shorter than the
window the service promises for it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from workflow_scheduler.domain.errors import Invalid, Unavailable

# docs/webhooks.md and decisions.md ("Firing path"): a retried call with the same Idempotency-Key is the same
# execution for at least 24 h.
IDEMPOTENCY_KEY_WINDOW = timedelta(hours=24)
DEFAULT_RETENTION_DAYS = 30
MONTHS_AHEAD = 2


class RetentionTooShort(Invalid):
    code = "retention_too_short"


class HistoryBusy(Unavailable):
    """A partition could not be changed within the lock timeout (long queries on the history): the next run does it."""

    code = "history_busy"


def retention_period(days: int) -> timedelta:
    """The retention as a period; refuses one shorter than the window an ``Idempotency-Key`` is remembered."""
    period = timedelta(days=days)
    if period < IDEMPOTENCY_KEY_WINDOW:
        hours = int(IDEMPOTENCY_KEY_WINDOW.total_seconds() // 3600)
        least = math.ceil(IDEMPOTENCY_KEY_WINDOW / timedelta(days=1))
        raise RetentionTooShort(
            f"a firing history retention of {days} day(s) is shorter than the {hours} h a webhook Idempotency-Key"
            f" is remembered (docs/webhooks.md); set at least {least} day(s)"
        )
    return period


def month_start(moment: datetime) -> datetime:
    """The first instant of ``moment``'s calendar month in UTC."""
    utc = moment.astimezone(UTC)
    return datetime(utc.year, utc.month, 1, tzinfo=UTC)


def next_month(start: datetime) -> datetime:
    return datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Partition:
    """One partition of the history: firings with ``start <= fired_at < end`` (``start`` None: from the beginning)."""

    name: str
    start: datetime | None
    end: datetime

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return (self.start is None or self.start < end) and start < self.end


@dataclass(frozen=True)
class RetentionPlan:
    keep_from: datetime  # every firing before this goes: the start of the month ``now - retention`` falls in
    forget_before: datetime  # claims of firings before this expire: ``now - retention``
    create: tuple[datetime, ...]  # the starts of the months to create
    drop: tuple[str, ...]  # partitions wholly before ``keep_from``


def plan_retention(
    now: datetime, retention: timedelta, partitions: Sequence[Partition], months_ahead: int = MONTHS_AHEAD
) -> RetentionPlan:
    keep_from = month_start(now - retention)
    months, month = [], month_start(now)
    for _ in range(months_ahead + 1):
        months.append(month)
        month = next_month(month)
    create = tuple(m for m in months if not any(p.overlaps(m, next_month(m)) for p in partitions))
    drop = tuple(p.name for p in partitions if p.end <= keep_from)
    return RetentionPlan(keep_from, now - retention, create, drop)


class HistoryPartitions(Protocol):
    def exclusive(self) -> AbstractContextManager[bool]:
        """Held for a whole run: True when no other run holds it (one run at a time)."""

    def partitions(self) -> list[Partition]:
        """Every month partition (the catch-all partition for firings of months without one is not listed)."""

    def create(self, start: datetime, end: datetime) -> int:
        """Add the partition of [start, end); returns how many firings it took over from the catch-all partition.

        Raises ``HistoryBusy`` when the history stays locked longer than a short timeout."""

    def drop(self, name: str) -> None:
        """Remove a partition with its firings; ``HistoryBusy`` as for ``create``."""

    def expire_claims(self, before: datetime) -> int:
        """Forget the claims of execution ids fired before ``before`` (in short transactions); how many."""

    def expire_unpartitioned(self, before: datetime) -> int:
        """Delete the firings before ``before`` that the catch-all partition holds; how many."""


@dataclass
class RetentionReport:
    retention_days: int
    keep_from: datetime
    forget_before: datetime
    created: list[str] = field(default_factory=list)  # months, "YYYY-MM"
    dropped: list[str] = field(default_factory=list)  # partitions
    moved: int = 0  # firings taken over from the catch-all partition by a new month
    claims_expired: int = 0
    unpartitioned_expired: int = 0
    skipped: list[str] = field(default_factory=list)  # what the next run retries, and why
    dry_run: bool = False
    busy: bool = False  # another run held the lock: this one did nothing

    def as_dict(self) -> dict[str, Any]:
        return {
            "retention_days": self.retention_days,
            "keep_from": self.keep_from.isoformat(),
            "forget_before": self.forget_before.isoformat(),
            "created": self.created,
            "dropped": self.dropped,
            "moved": self.moved,
            "claims_expired": self.claims_expired,
            "unpartitioned_expired": self.unpartitioned_expired,
            "skipped": self.skipped,
            "dry_run": self.dry_run,
            "busy": self.busy,
        }


class HistoryRetention:
    def __init__(
        self,
        store: HistoryPartitions,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._days = retention_days
        self._retention = retention_period(retention_days)
        self._clock = clock

    def run(self, *, dry_run: bool = False) -> RetentionReport:
        """Months ahead first: a firing must always find its month's partition, whatever fails after."""
        with self._store.exclusive() as acquired:
            plan = plan_retention(self._clock(), self._retention, self._store.partitions())
            report = RetentionReport(self._days, plan.keep_from, plan.forget_before, dry_run=dry_run, busy=not acquired)
            report.created = [f"{m:%Y-%m}" for m in plan.create]
            report.dropped = list(plan.drop)
            if dry_run or not acquired:
                return report
            for start in plan.create:
                try:
                    report.moved += self._store.create(start, next_month(start))
                except HistoryBusy as exc:
                    report.created.remove(f"{start:%Y-%m}")
                    report.skipped.append(f"create {start:%Y-%m}: {exc.message}")
            for name in plan.drop:
                try:
                    self._store.drop(name)
                except HistoryBusy as exc:
                    report.dropped.remove(name)
                    report.skipped.append(f"drop {name}: {exc.message}")
            report.unpartitioned_expired = self._store.expire_unpartitioned(plan.keep_from)
            report.claims_expired = self._store.expire_claims(plan.forget_before)
            return report
