"""One registrar per trigger type, behind one interface.

The trigger manager writes the trigger index rows itself; a registrar adds what its type needs: the
type-specific lookup columns, checks against other deployments, side effects in other services (schedules,
secrets) with their compensations, and the type-specific fields of the API response.
"""

from __future__ import annotations

from typing import Any, Protocol

from workflow_scheduler.domain.errors import WebhookPathTaken
from workflow_scheduler.domain.models import TriggerRecord, TriggerType
from workflow_scheduler.domain.ports import DeploymentTx, UndoLog
from workflow_scheduler.domain.spec import TriggerSpec, WebhookParams


class TriggerRegistrar(Protocol):
    trigger_type: TriggerType

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


class ManualRegistrar(IndexOnlyRegistrar):
    def __init__(self) -> None:
        super().__init__(TriggerType.MANUAL)

    def describe(self, record: TriggerRecord, base_url: str) -> dict[str, Any]:
        return {"require_confirmation": bool(record.config.get("require_confirmation"))}


def webhook_path_of(workflow_id: str, params: WebhookParams) -> str:
    return params.webhook_path or f"/webhook/{workflow_id}"


class WebhookRegistrar(IndexOnlyRegistrar):
    """Index row with the webhook path; the path is unique among deployed triggers (paused ones keep it)."""

    def __init__(self) -> None:
        super().__init__(TriggerType.WEBHOOK)

    def lookup_columns(self, workflow_id: str, spec: TriggerSpec) -> dict[str, Any]:
        if not isinstance(spec.params, WebhookParams):
            raise TypeError(f"trigger {spec.trigger_id!r} is not a webhook trigger")
        return {"webhook_path": webhook_path_of(workflow_id, spec.params)}

    def check(self, tx: DeploymentTx, record: TriggerRecord) -> None:
        path = record.lookup["webhook_path"]
        owner = tx.webhook_path_owner(path)
        if owner is not None and owner != (record.workflow_id, record.trigger_id):
            raise WebhookPathTaken(path, record.trigger_id)

    def describe(self, record: TriggerRecord, base_url: str) -> dict[str, Any]:
        auth = record.config.get("auth") or {}
        return {
            "webhook_url": base_url.rstrip("/") + record.lookup["webhook_path"],
            "methods": record.config.get("methods", ["POST"]),
            "auth_type": auth.get("type", "none"),
        }
