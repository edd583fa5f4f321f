"""The cron registrar: one EventBridge Scheduler schedule per translated expression of a cron trigger."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

from workflow_scheduler.domain.models import TriggerRecord, TriggerStatus, TriggerType
from workflow_scheduler.domain.ports import UndoLog
from workflow_scheduler.domain.spec import TriggerSpec
from workflow_scheduler.domain.triggers.cron.preview import deploy_preview
from workflow_scheduler.domain.triggers.cron.schedules import ScheduleSpec, ScheduleStore, schedule_names_of
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
        undo.defer(partial(store.create, spec), f"delete schedule {spec.name}", partial(store.delete, spec.name))

    def _update(self, spec: ScheduleSpec, previous: ScheduleSpec, undo: UndoLog) -> None:
        store = self._schedules
        undo.defer(partial(store.update, spec), f"restore schedule {spec.name}", partial(store.update, previous))

    def _delete(self, spec: ScheduleSpec, undo: UndoLog) -> None:
        store = self._schedules
        undo.defer(partial(store.delete, spec.name), f"recreate schedule {spec.name}", partial(store.create, spec))

    def describe(self, record: TriggerRecord, base_url: str) -> dict[str, Any]:
        config = record.config
        view = deploy_preview(config["cron_expression"], config.get("timezone", "UTC"), self._clock())
        return {
            "cron_expression": config["cron_expression"],
            "timezone": config.get("timezone", "UTC"),
            "schedules": [s.expression for s in schedule_specs(record)],
            **view,
        }


def build(deps: RegistrarDeps) -> CronRegistrar | None:
    """Without EventBridge Scheduler (``SCHEDULE_GROUP_NAME`` and the rest unset) cron triggers cannot be deployed."""
    return CronRegistrar(deps.schedules) if deps.schedules is not None else None
