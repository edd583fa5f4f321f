"""Reconcile: make the schedule group match the trigger index (issue 4.6).

Deploys keep the two in step, but a compensation that failed, a schedule deleted by hand or a restored
database can leave orphans (schedules no trigger owns) or gaps (triggers without their schedules). Reconcile
deletes orphans, recreates what is missing and repairs schedules whose state or definition drifted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from workflow_scheduler.domain.locks import DistributedLockManager
from workflow_scheduler.domain.models import TriggerRecord
from workflow_scheduler.domain.triggers.cron.registrar import schedule_specs
from workflow_scheduler.domain.triggers.cron.schedules import ScheduleStore

LOCK_NAME = "reconcile-schedules"
LOCK_LEASE_SECONDS = 900


class CronIndex(Protocol):
    def cron_triggers(self) -> list[TriggerRecord]: ...


@dataclass
class ReconcileReport:
    created: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    in_step: int = 0
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "deleted": self.deleted,
            "repaired": self.repaired,
            "in_step": self.in_step,
            "dry_run": self.dry_run,
        }


class Reconciler:
    def __init__(self, index: CronIndex, schedules: ScheduleStore, locks: DistributedLockManager | None = None) -> None:
        self._index = index
        self._schedules = schedules
        self._locks = locks

    def run(self, *, dry_run: bool = False) -> ReconcileReport:
        """One reconcile at a time: a second one while the first runs gets ``LockNotAcquired``."""
        if self._locks is None:
            return self._reconcile(dry_run)
        with self._locks.hold(LOCK_NAME, LOCK_LEASE_SECONDS):
            return self._reconcile(dry_run)

    def _reconcile(self, dry_run: bool) -> ReconcileReport:
        expected = {spec.name: spec for record in self._index.cron_triggers() for spec in schedule_specs(record)}
        actual = set(self._schedules.list_names())
        report = ReconcileReport(dry_run=dry_run)
        for name in sorted(actual - expected.keys()):
            report.deleted.append(name)
            if not dry_run:
                self._schedules.delete(name)
        for name in sorted(expected.keys() - actual):
            report.created.append(name)
            if not dry_run:
                self._schedules.create(expected[name])
        for name in sorted(expected.keys() & actual):
            current = self._schedules.get(name)
            if current is None:  # deleted meanwhile
                report.created.append(name)
                if not dry_run:
                    self._schedules.create(expected[name])
            elif not self._schedules.in_step(expected[name], current):
                report.repaired.append(name)
                if not dry_run:
                    self._schedules.update(expected[name])
            else:
                report.in_step += 1
        return report
