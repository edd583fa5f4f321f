"""In-memory fakes of the domain's ports, for unit tests."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from workflow_scheduler.domain.errors import RegistrationFailed
from workflow_scheduler.domain.models import Deployment, TriggerRecord, TriggerStatus, TriggerType
from workflow_scheduler.domain.ports import UndoLog
from workflow_scheduler.domain.triggers.cron.schedules import ScheduleWrite
from workflow_scheduler.domain.triggers.registrar import IndexOnlyRegistrar


class MemoryTx:
    def __init__(self, store: MemoryStore) -> None:
        self.deployments = copy.deepcopy(store.deployments)
        self.triggers = copy.deepcopy(store.triggers)
        self.github_links = store.github_links
        self.schedule_writes = dict(store.schedule_writes)
        self.writes = 0

    def lock_deployment(self, workflow_id: str) -> Deployment | None:
        return self.deployments.get(workflow_id)

    def list_triggers(self, workflow_id: str) -> list[TriggerRecord]:
        return [r for (wf, _), r in self.triggers.items() if wf == workflow_id]

    def save_deployment(self, deployment: Deployment) -> None:
        self.writes += 1
        self.deployments[deployment.workflow_id] = deployment

    def insert_trigger(self, record: TriggerRecord) -> None:
        self.writes += 1
        key = (record.workflow_id, record.trigger_id)
        assert key not in self.triggers
        self.triggers[key] = record

    def replace_trigger(self, record: TriggerRecord) -> None:
        self.writes += 1
        self.triggers[(record.workflow_id, record.trigger_id)] = record

    def delete_trigger(self, workflow_id: str, trigger_id: str) -> None:
        self.writes += 1
        del self.triggers[(workflow_id, trigger_id)]
        # As the foreign key cascades: what was written to its schedules goes with the trigger.
        self.schedule_writes = {
            name: write
            for name, write in self.schedule_writes.items()
            if (write.workflow_id, write.trigger_id) != (workflow_id, trigger_id)
        }

    def set_trigger_status(self, workflow_id: str, trigger_id: str, status: TriggerStatus) -> None:
        self.writes += 1
        key = (workflow_id, trigger_id)
        self.triggers[key] = replace(self.triggers[key], status=status)

    def webhook_path_owner(self, path: str) -> tuple[str, str] | None:
        for (wf, tid), record in self.triggers.items():
            if record.lookup.get("webhook_path") == path:
                return wf, tid
        return None

    def github_installation_linked(self, installation_id: int, workflow_id: str) -> bool:
        deployment = self.deployments.get(workflow_id)
        return deployment is not None and (installation_id, deployment.owner) in self.github_links

    def remember_schedule_write(self, write: ScheduleWrite) -> None:
        self.schedule_writes[write.name] = write

    def forget_schedule_write(self, name: str) -> None:
        self.schedule_writes.pop(name, None)


class MemoryStore:
    """Transactions work on a copy that replaces the committed state only when the block succeeds."""

    def __init__(self) -> None:
        self.deployments: dict[str, Deployment] = {}
        self.triggers: dict[tuple[str, str], TriggerRecord] = {}
        self.github_links: set[tuple[int, str]] = set()  # (installation id, owner)
        self.schedule_writes: dict[str, ScheduleWrite] = {}  # what deploys wrote to schedules, by name
        self.writes = 0

    @contextmanager
    def transaction(self) -> Iterator[MemoryTx]:
        tx = MemoryTx(self)
        yield tx
        self.deployments, self.triggers, self.schedule_writes = tx.deployments, tx.triggers, tx.schedule_writes
        self.writes += tx.writes

    def get_deployment(self, workflow_id: str) -> Deployment | None:
        return self.deployments.get(workflow_id)

    def list_triggers(self, workflow_id: str) -> list[TriggerRecord]:
        return [r for (wf, _), r in self.triggers.items() if wf == workflow_id]


class RecordingRegistrar(IndexOnlyRegistrar):
    """Keeps 'external' registrations in a dict, like a scheduler would; can be told to fail for a trigger id."""

    def __init__(self, trigger_type: TriggerType, fail_on: set[str] | None = None) -> None:
        super().__init__(trigger_type)
        self.external: dict[tuple[str, str], dict[str, Any]] = {}
        self.active: dict[tuple[str, str], bool] = {}
        self.fail_on = fail_on or set()
        self.calls: list[str] = []

    def register(self, record: TriggerRecord, undo: UndoLog) -> None:
        key = (record.workflow_id, record.trigger_id)
        self.calls.append(f"register {record.trigger_id}")
        if record.trigger_id in self.fail_on:
            raise RegistrationFailed(f"cannot register {record.trigger_id}")
        self.external[key] = record.config
        self.active[key] = record.status == TriggerStatus.ACTIVE
        undo.add(f"unregister {record.trigger_id}", lambda: (self.external.pop(key), self.active.pop(key)))

    def unregister(self, record: TriggerRecord, undo: UndoLog) -> None:
        key = (record.workflow_id, record.trigger_id)
        self.calls.append(f"unregister {record.trigger_id}")
        config, active = self.external.pop(key), self.active.pop(key)

        def restore() -> None:
            self.external[key], self.active[key] = config, active

        undo.add(f"restore {record.trigger_id}", restore)

    def set_active(self, record: TriggerRecord, active: bool, undo: UndoLog) -> None:
        key = (record.workflow_id, record.trigger_id)
        self.calls.append(f"{'resume' if active else 'pause'} {record.trigger_id}")
        before = self.active[key]
        self.active[key] = active
        undo.add("restore state", lambda: self.active.__setitem__(key, before))


class MemoryFiringStore:
    """Claims and audit rows in lists; a claim made inside a block that raises is rolled back."""

    def __init__(self, targets: list[Any] | None = None) -> None:
        self.claimed: dict[str, Any] = {}
        self.rows: list[tuple[str, str, str | None]] = []  # (execution_id, status, error)
        self._targets = targets if targets is not None else []

    @contextmanager
    def claim(self, event: Any, store_payload: bool = False) -> Iterator[bool]:
        if event.execution_id in self.claimed:
            first = self.claimed[event.execution_id].request_fingerprint
            if event.request_fingerprint is not None and first not in (None, event.request_fingerprint):
                from workflow_scheduler.domain.firing import IdempotencyKeyReused

                raise IdempotencyKeyReused()
            yield False
            return
        yield True
        self.claimed[event.execution_id] = event
        self.rows.append((event.execution_id, "queued", None))

    def record(self, event: Any, status: Any, error: str | None = None) -> None:
        self.rows.append((event.execution_id, str(status), error))

    def targets(self, query: Any) -> list[Any]:
        from workflow_scheduler.domain.firing import ByGithubEvent, ByTrigger, ByWebhookPath, ByWorkflow

        match query:
            case ByGithubEvent(repository=repository, event=event):
                return [
                    t
                    for t in self._targets
                    if t.trigger.lookup.get("github_repository") == repository.lower()
                    and event in t.trigger.lookup.get("github_events", ())
                ]
            case ByWebhookPath(path=path):
                return [t for t in self._targets if t.trigger.lookup.get("webhook_path") == path]
            case ByTrigger(workflow_id=workflow_id, trigger_id=trigger_id):
                return [
                    t
                    for t in self._targets
                    if (t.trigger.workflow_id, t.trigger.trigger_id) == (workflow_id, trigger_id)
                ]
            case ByWorkflow(workflow_id=workflow_id):
                return [t for t in self._targets if t.trigger.workflow_id == workflow_id]
        raise TypeError(f"unknown target query {query!r}")


class MemoryQueue:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[Any, int]] = []
        self.fail = fail

    def send(self, event: Any, delay_seconds: int = 0) -> None:
        from workflow_scheduler.domain.firing import DispatchUnavailable

        if self.fail:
            raise DispatchUnavailable("queue down")
        self.sent.append((event, delay_seconds))


class MemorySecretStore:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self.deleted: set[str] = set()
        self.calls: list[str] = []

    def read(self, name: str) -> str | None:
        self.calls.append(f"read {name}")
        return None if name in self.deleted else self.values.get(name)

    def describe(self, name: str) -> Any:
        from workflow_scheduler.domain.inline_secrets import SecretInfo

        self.calls.append(f"describe {name}")
        if name not in self.values:
            return None
        return SecretInfo(dict(self.tags.get(name, {})), deleted=name in self.deleted)

    def write(self, name: str, value: str, tags: dict[str, str]) -> None:
        self.calls.append(f"write {name}")
        if name not in self.values:
            self.tags[name] = dict(tags)
        self.values[name] = value
        self.deleted.discard(name)

    def delete(self, name: str) -> None:
        self.calls.append(f"delete {name}")
        self.deleted.add(name)
