"""The parameters of a manual trigger."""

from __future__ import annotations

from workflow_scheduler.domain.triggers.params import TriggerParams


class ManualParams(TriggerParams):
    require_confirmation: bool = False
