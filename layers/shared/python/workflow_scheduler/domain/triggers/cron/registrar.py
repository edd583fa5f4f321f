"""The cron registrar: one EventBridge Scheduler schedule per translated expression of a cron trigger."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

from workflow_scheduler.domain.models import TriggerRecord, TriggerStatus, TriggerType
from workflow_scheduler.domain.ports import DeploymentTx, UndoLog
from workflow_scheduler.domain.spec import TriggerSpec
from workflow_scheduler.domain.triggers.cron.preview import deploy_preview
from workflow_scheduler.domain.triggers.cron.schedules import (
    ScheduleSpec,
    ScheduleStore,
    ScheduleWrite,
    schedule_names_of,
)
from workflow_scheduler.domain.triggers.cron.translate import translate
from workflow_scheduler.domain.triggers.registrar import IndexOnlyRegistrar, RegistrarDeps


def schedule_specs(record: TriggerRecord, enabled: bool | None = None) -> list[ScheduleSpec]:
    """The schedules a cron trigger needs: one per expression of its translation (two when it is split)."""
    config = record.config
    translation = translate(config["cron_expression"], config.get("timezone", "UTC"))
    names = schedule_names_of(record.workflow_id, record.trigger_id, len(translation.schedules))
    state = record.status == TriggerStatus.ACTIVE if enabled is None else enabled
    return [
        ScheduleSpec(
            name=name,
            expression=expression,
            timezone=translation.timezone,
            enabled=state,
            workflow_id=record.workflow_id,
            trigger_id=record.trigger_id,
            version=record.version,
        )
        for name, expression in zip(names, translation.schedules, strict=True)
    ]


class CronRegistrar(IndexOnlyRegistrar):
    def __init__(self, schedules: ScheduleStore, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        super().__init__(TriggerType.CRON)
        self._schedules = schedules
        self._clock = clock

    def lookup_columns(self, workflow_id: str, spec: TriggerSpec) -> dict[str, Any]:
        return {"cron_expression": spec.config["cron_expression"], "timezone": spec.config["timezone"]}

    # Every schedule call is deferred: the deploy runs them together once the database part has succeeded
    # (they touch distinct schedule names, so their order does not matter), each with its exact compensation.
    # What each wrote is recorded in the deploy's transaction (cron_schedule_writes), so reconcile need not read
    # the schedule again: a deploy that rolls back leaves no record of a write its compensation undid.

    def register(self, record: TriggerRecord, undo: UndoLog) -> None:
        for spec in schedule_specs(record):
            self._create(spec, undo)

    def unregister(self, record: TriggerRecord, undo: UndoLog) -> None:
        for spec in schedule_specs(record):
            self._delete(spec, undo)

    def replace(self, old: TriggerRecord, new: TriggerRecord, undo: UndoLog) -> None:
        """Update schedules in place (one call each); create or delete only when the split changes."""
        before = {s.name: s for s in schedule_specs(old)}
        after = {s.name: s for s in schedule_specs(new)}
        for name, spec in after.items():
            if name not in before:
                self._create(spec, undo)
            elif before[name] != spec:
                self._update(spec, before[name], undo)
        for name, spec in before.items():
            if name not in after:
                self._delete(spec, undo)

    def set_active(self, record: TriggerRecord, active: bool, undo: UndoLog) -> None:
        for spec in schedule_specs(record, enabled=active):
            self._update(spec, replace(spec, enabled=not active), undo)

    def _create(self, spec: ScheduleSpec, undo: UndoLog) -> None:
        store = self._schedules
        write = _TimedWrite(store.create, spec, store.definition_hash(spec), self._clock)
        undo.defer(write.run, f"delete schedule {spec.name}", partial(store.delete, spec.name), record=write.record)

    def _update(self, spec: ScheduleSpec, previous: ScheduleSpec, undo: UndoLog) -> None:
        store = self._schedules
        write = _TimedWrite(store.update, spec, store.definition_hash(spec), self._clock)
        undo.defer(write.run, f"restore schedule {spec.name}", partial(store.update, previous), record=write.record)

    def _delete(self, spec: ScheduleSpec, undo: UndoLog) -> None:
        store = self._schedules
        undo.defer(
            partial(store.delete, spec.name),
            f"recreate schedule {spec.name}",
            partial(store.create, spec),
            record=lambda tx: tx.forget_schedule_write(spec.name),
        )

    def describe(self, record: TriggerRecord, base_url: str) -> dict[str, Any]:
        config = record.config
        view = deploy_preview(config["cron_expression"], config.get("timezone", "UTC"), self._clock())
        return {
            "cron_expression": config["cron_expression"],
            "timezone": config.get("timezone", "UTC"),
            "schedules": [s.expression for s in schedule_specs(record)],
            **view,
        }


class _TimedWrite:
    """A deploy's create or update of one schedule, with the window of our clock around the call."""

    def __init__(
        self,
        call: Callable[[ScheduleSpec], None],
        spec: ScheduleSpec,
        definition_hash: str,
        clock: Callable[[], datetime],
    ) -> None:
        self._call = call
        self._spec = spec
        self._hash = definition_hash
        self._clock = clock
        self._window: tuple[datetime, datetime] | None = None

    def run(self) -> None:
        started = self._clock()
        self._call(self._spec)
        self._window = (started, self._clock())

    def record(self, tx: DeploymentTx) -> None:
        if self._window is None:
            raise RuntimeError(f"the write of {self._spec.name} is recorded before it ran")
        spec = self._spec
        tx.remember_schedule_write(
            ScheduleWrite(spec.name, spec.workflow_id, spec.trigger_id, self._hash, *self._window)
        )


def build(deps: RegistrarDeps) -> CronRegistrar | None:
    """Without EventBridge Scheduler (``SCHEDULE_GROUP_NAME`` and the rest unset) cron triggers cannot be deployed."""
    return CronRegistrar(deps.schedules) if deps.schedules is not None else None
