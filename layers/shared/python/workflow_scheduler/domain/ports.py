"""The interfaces the domain needs from the outside world; adapters implement them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from workflow_scheduler.domain.models import Deployment, TriggerRecord, TriggerStatus

if TYPE_CHECKING:
    from workflow_scheduler.domain.triggers.cron.schedules import ScheduleWrite


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

    def github_installation_linked(self, installation_id: int, workflow_id: str) -> bool:
        """Whether the GitHub App installation is linked to the owner of the workflow as saved in this transaction
        (the deploy saves its deployment before it registers the triggers)."""

    def remember_schedule_write(self, write: ScheduleWrite) -> None:
        """Tell reconcile what the deploy wrote to a cron trigger's schedule, unless reconcile itself wrote or read
        that schedule since the write's window began (its own record then stays: it is at least as new)."""

    def forget_schedule_write(self, name: str) -> None:
        """The deploy deleted the schedule: nothing written there is known any more."""


class DeploymentStore(Protocol):
    def transaction(self) -> AbstractContextManager[DeploymentTx]: ...

    def get_deployment(self, workflow_id: str) -> Deployment | None: ...

    def list_triggers(self, workflow_id: str) -> list[TriggerRecord]: ...


CallOutcomes = list[Exception | None]
# Runs independent calls (in any order, possibly at once) and reports each one's outcome: None or its exception.
CallRunner = Callable[[Sequence[Callable[[], object]]], CallOutcomes]


def run_in_turn(calls: Sequence[Callable[[], object]]) -> CallOutcomes:
    """The plain ``CallRunner``: one call after another, each one's failure recorded, none skipped."""
    outcomes: CallOutcomes = []
    for call in calls:
        try:
            call()
        except Exception as exc:
            outcomes.append(exc)
        else:
            outcomes.append(None)
    return outcomes


class UndoLog:
    """Compensating actions for side effects outside the database, run newest first when a change fails.

    ``defer`` queues an independent side effect (one that no other queued effect depends on, such as one
    schedule of a deploy); ``flush`` runs the queued ones together through the injected runner, which may run
    them at once. Exactly the effects that succeeded get their compensation, whatever the others did.
    """

    def __init__(self, run_all: CallRunner = run_in_turn) -> None:
        self._run_all = run_all
        self._groups: list[list[tuple[str, Callable[[], object]]]] = []
        self._pending: list[_Deferred] = []

    def add(self, description: str, action: Callable[[], object]) -> None:
        self._groups.append([(description, action)])

    def defer(
        self,
        action: Callable[[], object],
        description: str,
        compensation: Callable[[], object],
        *,
        record: Callable[[DeploymentTx], object] | None = None,
    ) -> None:
        """Queue ``action`` for the next ``flush``; ``compensation`` undoes it once it has succeeded. ``record``
        writes what the action did into the change's transaction, so that it commits or rolls back with it."""
        self._pending.append(_Deferred(action, description, compensation, record))

    def flush(self, tx: DeploymentTx) -> None:
        """Run every queued action; raise the first failure after recording the compensations of the others.

        When all succeeded, their ``record``s write to ``tx`` (in this thread: the transaction is not shared).
        """
        pending, self._pending = self._pending, []
        if not pending:
            return
        outcomes = self._run_all([deferred.action for deferred in pending])
        done = [
            (deferred.description, deferred.compensation)
            for deferred, error in zip(pending, outcomes, strict=True)
            if error is None
        ]
        if done:
            self._groups.append(done)
        failures = [error for error in outcomes if error is not None]
        if failures:
            raise failures[0]
        for deferred in pending:
            if deferred.record is not None:
                deferred.record(tx)

    def run(self) -> list[str]:
        """Run every compensation; return the descriptions of those that failed (they are logged by callers).

        Queued actions that never ran need none. A group recorded by one ``flush`` is independent: it runs
        through the runner too.
        """
        self._pending.clear()
        failed: list[str] = []
        for group in reversed(self._groups):
            outcomes = self._run_all([action for _, action in group])
            failed.extend(
                description for (description, _), error in zip(group, outcomes, strict=True) if error is not None
            )
        self._groups.clear()
        return failed


@dataclass(frozen=True)
class _Deferred:
    action: Callable[[], object]
    description: str
    compensation: Callable[[], object]
    record: Callable[[DeploymentTx], object] | None
