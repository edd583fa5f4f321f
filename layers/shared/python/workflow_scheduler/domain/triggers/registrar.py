"""The interface of every trigger type's registrar (``<type>/registrar.py``), and the base of the simple ones.

The trigger manager writes the trigger index rows itself; a registrar adds what its type needs: the
type-specific lookup columns, checks against other deployments, side effects in other services (schedules,
secrets) with their compensations, and the type-specific fields of the API response.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from workflow_scheduler.domain.errors import Problem
from workflow_scheduler.domain.models import TriggerRecord, TriggerType
from workflow_scheduler.domain.ports import DeploymentTx, UndoLog

if TYPE_CHECKING:
    from workflow_scheduler.domain.spec import TriggerSpec
    from workflow_scheduler.domain.triggers.cron.schedules import ScheduleStore


@dataclass(frozen=True)
class RegistrarDeps:
    """What registrars may need from outside the database. Each type's ``registrar(deps)`` takes its part; a type
    whose part is missing has no registrar here, so its triggers are refused at deploy (trigger_type_unavailable).
    """

    schedules: ScheduleStore | None = None  # cron: EventBridge Scheduler


class TriggerRegistrar(Protocol):
    trigger_type: TriggerType

    def spec_problems(self, workflow_id: str, spec: TriggerSpec) -> list[Problem]:
        """What is wrong with the trigger in this workflow, seen before anything is written (none: valid)."""

    def lookup_columns(self, workflow_id: str, spec: TriggerSpec) -> dict[str, Any]:
        """Values of the type-specific index columns (webhook_path, github_repository, ...)."""

    def check(self, tx: DeploymentTx, record: TriggerRecord) -> None:
        """Refuse a registration that conflicts with another deployment (raise a DomainError)."""

    def register(self, record: TriggerRecord, undo: UndoLog) -> None:
        """Create the trigger's resources outside the database; add a compensation for each one."""

    def unregister(self, record: TriggerRecord, undo: UndoLog) -> None:
        """Remove the trigger's resources outside the database; add a compensation that restores them."""

    def replace(self, old: TriggerRecord, new: TriggerRecord, undo: UndoLog) -> None:
        """Move a changed trigger of this type from its old registration to its new one."""

    def set_active(self, record: TriggerRecord, active: bool, undo: UndoLog) -> None:
        """Stop or restart firing (pause/resume)."""

    def describe(self, record: TriggerRecord, base_url: str) -> dict[str, Any]:
        """Type-specific fields of the trigger's API view."""


class IndexOnlyRegistrar:
    """A trigger whose whole registration is its index row: nothing outside the database to manage."""

    trigger_type: TriggerType

    def __init__(self, trigger_type: TriggerType) -> None:
        self.trigger_type = trigger_type

    def spec_problems(self, workflow_id: str, spec: TriggerSpec) -> list[Problem]:
        return []

    def lookup_columns(self, workflow_id: str, spec: TriggerSpec) -> dict[str, Any]:
        return {}

    def check(self, tx: DeploymentTx, record: TriggerRecord) -> None:
        return None

    def register(self, record: TriggerRecord, undo: UndoLog) -> None:
        return None

    def unregister(self, record: TriggerRecord, undo: UndoLog) -> None:
        return None

    def replace(self, old: TriggerRecord, new: TriggerRecord, undo: UndoLog) -> None:
        self.unregister(old, undo)
        self.register(new, undo)

    def set_active(self, record: TriggerRecord, active: bool, undo: UndoLog) -> None:
        return None

    def describe(self, record: TriggerRecord, base_url: str) -> dict[str, Any]:
        return {}
