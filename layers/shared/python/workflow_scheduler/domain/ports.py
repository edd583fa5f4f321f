"""The interfaces the domain needs from the outside world; adapters implement them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Protocol

from workflow_scheduler.domain.models import Deployment, TriggerRecord, TriggerStatus


class DeploymentTx(Protocol):
    """Reads and writes inside one database transaction: all of it commits or none."""

    def lock_deployment(self, workflow_id: str) -> Deployment | None:
        """Read a deployment and hold it against concurrent deploys until the transaction ends."""

    def list_triggers(self, workflow_id: str) -> list[TriggerRecord]: ...

    def save_deployment(self, deployment: Deployment) -> None: ...

    def insert_trigger(self, record: TriggerRecord) -> None: ...

    def replace_trigger(self, record: TriggerRecord) -> None: ...

    def delete_trigger(self, workflow_id: str, trigger_id: str) -> None: ...

    def set_trigger_status(self, workflow_id: str, trigger_id: str, status: TriggerStatus) -> None: ...

    def webhook_path_owner(self, path: str) -> tuple[str, str] | None:
        """(workflow_id, trigger_id) of the deployed trigger that holds this webhook path, if any."""


class DeploymentStore(Protocol):
    def transaction(self) -> AbstractContextManager[DeploymentTx]: ...

    def get_deployment(self, workflow_id: str) -> Deployment | None: ...

    def list_triggers(self, workflow_id: str) -> list[TriggerRecord]: ...


class UndoLog:
    """Compensating actions for side effects outside the database, run newest first when a change fails."""

    def __init__(self) -> None:
        self._actions: list[tuple[str, Callable[[], object]]] = []

    def add(self, description: str, action: Callable[[], object]) -> None:
        self._actions.append((description, action))

    def __iter__(self) -> Iterator[tuple[str, Callable[[], object]]]:
        return reversed(self._actions)

    def run(self) -> list[str]:
        """Run every compensation; return the descriptions of those that failed (they are logged by callers)."""
        failed = []
        for description, action in self:
            try:
                action()
            except Exception:
                failed.append(description)
        self._actions.clear()
        return failed
