"""TriggerManager: applies a trigger plan through the registrar of each trigger's type."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from workflow_scheduler.domain.errors import Problem, SpecInvalid, TriggerTypeUnavailable
from workflow_scheduler.domain.models import TriggerPlan, TriggerRecord, TriggerStatus, TriggerType
from workflow_scheduler.domain.ports import DeploymentTx, UndoLog
from workflow_scheduler.domain.spec import TriggerSpec, WorkflowSpec
from workflow_scheduler.domain.triggers.registrar import TriggerRegistrar


def trigger_status(spec_config: Mapping[str, Any], paused: bool) -> TriggerStatus:
    if paused:
        return TriggerStatus.PAUSED
    if spec_config.get("enabled") is False:
        return TriggerStatus.DISABLED
    return TriggerStatus.ACTIVE


class TriggerManager:
    def __init__(self, registrars: Iterable[TriggerRegistrar]) -> None:
        self._registrars: dict[TriggerType, TriggerRegistrar] = {r.trigger_type: r for r in registrars}

    def check(self, workflow_id: str, spec: WorkflowSpec) -> None:
        """Refuse, before anything is written, a trigger its registrar finds wrong or whose type is unavailable."""
        invalid = [
            problem
            for t in spec.triggers
            if t.type in self._registrars
            for problem in self._registrars[t.type].spec_problems(workflow_id, t)
        ]
        if invalid:
            raise SpecInvalid(invalid)
        unavailable = [
            Problem(
                "subtype",
                f"{t.type.subtype} triggers cannot be deployed yet: their firing path is not available",
                t.trigger_id,
            )
            for t in spec.triggers
            if t.type not in self._registrars
        ]
        if unavailable:
            raise TriggerTypeUnavailable(unavailable)

    def _registrar(self, trigger_type: TriggerType) -> TriggerRegistrar:
        return self._registrars[trigger_type]

    def _record(self, workflow_id: str, spec: TriggerSpec, version: int, paused: bool) -> TriggerRecord:
        return TriggerRecord(
            workflow_id=workflow_id,
            trigger_id=spec.trigger_id,
            type=spec.type,
            config=spec.config,
            config_hash=spec.config_hash,
            version=version,
            status=trigger_status(spec.config, paused),
            lookup=self._registrar(spec.type).lookup_columns(workflow_id, spec),
        )

    def apply(
        self, tx: DeploymentTx, workflow_id: str, plan: TriggerPlan, version: int, paused: bool, undo: UndoLog
    ) -> list[TriggerRecord]:
        """Remove, re-register and add triggers; return the triggers registered afterwards."""
        for record in plan.removed:
            tx.delete_trigger(workflow_id, record.trigger_id)
            self._registrar(record.type).unregister(record, undo)
        result = list(plan.unchanged)
        for old, spec in plan.changed:
            record = self._record(workflow_id, spec, version, paused)
            self._registrar(spec.type).check(tx, record)
            tx.replace_trigger(record)
            if old.type == spec.type:
                self._registrar(spec.type).replace(old, record, undo)
            else:
                self._registrar(old.type).unregister(old, undo)
                self._registrar(spec.type).register(record, undo)
            result.append(record)
        for spec in plan.added:
            record = self._record(workflow_id, spec, version, paused)
            self._registrar(spec.type).check(tx, record)
            tx.insert_trigger(record)
            self._registrar(spec.type).register(record, undo)
            result.append(record)
        return result

    def remove_all(self, tx: DeploymentTx, records: Iterable[TriggerRecord], undo: UndoLog) -> None:
        for record in records:
            tx.delete_trigger(record.workflow_id, record.trigger_id)
            self._registrar(record.type).unregister(record, undo)

    def set_paused(
        self, tx: DeploymentTx, records: Iterable[TriggerRecord], paused: bool, undo: UndoLog
    ) -> list[TriggerRecord]:
        updated = []
        for record in records:
            status = trigger_status(record.config, paused)
            if status != record.status:
                tx.set_trigger_status(record.workflow_id, record.trigger_id, status)
                self._registrar(record.type).set_active(record, status == TriggerStatus.ACTIVE, undo)
            updated.append(replace(record, status=status))
        return updated

    def describe(self, record: TriggerRecord, base_url: str) -> dict[str, Any]:
        view: dict[str, Any] = {
            "trigger_id": record.trigger_id,
            "type": record.type.value,
            "status": record.status.value,
            "version": record.version,
        }
        registrar = self._registrars.get(record.type)
        if registrar is not None:
            view.update(registrar.describe(record, base_url))
        return view
