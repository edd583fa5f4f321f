"""The manual registrar: a manual trigger is its index row; its view says whether a run needs confirmation."""

from __future__ import annotations

from typing import Any

from workflow_scheduler.domain.models import TriggerRecord, TriggerType
from workflow_scheduler.domain.triggers.registrar import IndexOnlyRegistrar, RegistrarDeps


class ManualRegistrar(IndexOnlyRegistrar):
    def __init__(self) -> None:
        super().__init__(TriggerType.MANUAL)

    def describe(self, record: TriggerRecord, base_url: str) -> dict[str, Any]:
        return {"require_confirmation": bool(record.config.get("require_confirmation"))}


def build(deps: RegistrarDeps) -> ManualRegistrar:
    return ManualRegistrar()
