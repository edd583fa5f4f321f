"""DeploymentService: the life cycle of a workflow's deployment.

Every change runs in one database transaction; side effects outside the database are recorded in an
``UndoLog`` and compensated when anything fails, so a failed deploy leaves the previous deployment as it was.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from workflow_scheduler.domain.errors import (
    DeploymentNotFound,
    Problem,
    SecretRefused,
    SpecInvalid,
    TooManyTriggers,
    WorkflowIdTaken,
)
from workflow_scheduler.domain.inline_secrets import (
    InlineSecret,
    SecretStore,
    created_for,
    extract_inline_secrets,
    managed_secret_names,
    named_secrets,
    owner_tags,
    refusal,
    secret_refs,
)
from workflow_scheduler.domain.models import (
    WORKFLOW_ID,
    Deployment,
    DeploymentResult,
    DeploymentStatus,
    TriggerRecord,
    plan_triggers,
)
from workflow_scheduler.domain.ports import CallRunner, DeploymentStore, DeploymentTx, UndoLog, run_in_turn
from workflow_scheduler.domain.spec import TRIGGER_NODE, TriggerSpec, parse_workflow_spec
from workflow_scheduler.domain.triggers.manager import TriggerManager

T = TypeVar("T")
DEFAULT_MAX_TRIGGERS = 100


def _utcnow() -> datetime:
    return datetime.now(UTC)


class DeploymentService:
    def __init__(
        self,
        store: DeploymentStore,
        triggers: TriggerManager,
        clock: Callable[[], datetime] = _utcnow,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        on_compensation_failure: Callable[[list[str]], None] | None = None,
        secrets: SecretStore | None = None,
        max_triggers: int = DEFAULT_MAX_TRIGGERS,
        run_all: CallRunner = run_in_turn,
    ) -> None:
        self._store = store
        self._max_triggers = max_triggers
        self._run_all = run_all
        self._secrets = secrets
        self._triggers = triggers
        self._clock = clock
        self._new_id = new_id
        self._on_compensation_failure = on_compensation_failure

    @property
    def triggers(self) -> TriggerManager:
        return self._triggers

    # -- reads -----------------------------------------------------------------------------------------

    def status(self, workflow_id: str, owner: str) -> tuple[Deployment, list[TriggerRecord]]:
        deployment = self._owned(self._store.get_deployment(workflow_id), workflow_id, owner)
        return deployment, _in_node_order(self._store.list_triggers(workflow_id), deployment.spec)

    # -- changes ---------------------------------------------------------------------------------------

    def deploy(self, workflow_id: str, owner: str, raw_spec: Any, *, must_exist: bool = False) -> DeploymentResult:
        """Deploy or update: register only what differs from the current deployment.

        ``must_exist`` is the update (PUT) form: it refuses a workflow that is not deployed.
        """
        _check_workflow_id(workflow_id)
        self._check_trigger_count(raw_spec)
        redacted, inline = extract_inline_secrets(raw_spec, workflow_id)
        spec = parse_workflow_spec(redacted)
        self._triggers.check(workflow_id, spec)
        if inline:
            self._secret_store(inline)  # refused before any work when there is none

        def change(tx: DeploymentTx, undo: UndoLog) -> DeploymentResult:
            current = tx.lock_deployment(workflow_id)
            # A workflow id stays its first owner's, also after an undeploy: its history is theirs.
            if current is not None and current.owner != owner:
                raise DeploymentNotFound(workflow_id) if must_exist else WorkflowIdTaken(workflow_id)
            live = current is not None and current.status != DeploymentStatus.UNDEPLOYED
            if must_exist and not live:
                raise DeploymentNotFound(workflow_id)

            existing = tx.list_triggers(workflow_id) if live else []
            # Checked after the ownership of the id: nothing is learnt about another user's workflow.
            previous = self._current_secret_values(workflow_id, owner, inline)
            new_secrets = {name: s for name, s in inline.items() if previous[name] != s.value}
            # A trigger whose secret changes is registered again (an e-mail trigger logs in with the new one).
            plan = plan_triggers(existing, spec.triggers, frozenset(s.trigger_id for s in new_secrets.values()))
            self._check_refs(workflow_id, owner, [*plan.added, *(s for _, s in plan.changed)], inline)
            if live and current is not None and plan.is_noop and current.spec == spec.raw and not new_secrets:
                return DeploymentResult(current, _in_node_order(list(plan.unchanged), current.spec), changed=False)

            now = self._clock()
            paused = live and current is not None and current.status == DeploymentStatus.PAUSED
            version = (current.version if current else 0) + 1
            deployment = Deployment(
                workflow_id=workflow_id,
                deployment_id=self._new_id(),
                owner=owner,
                spec=spec.raw,
                version=version,
                status=DeploymentStatus.PAUSED if paused else DeploymentStatus.DEPLOYED,
                created_at=current.created_at if current else now,
                updated_at=now,
            )
            tx.save_deployment(deployment)
            records = self._triggers.apply(tx, workflow_id, plan, version, paused, undo)
            self._write_secrets(workflow_id, owner, new_secrets, previous, undo)
            self._drop_secrets(workflow_id, owner, _refs(existing) - _refs(records), undo)
            return DeploymentResult(deployment, _in_node_order(records, spec.raw), changed=True)

        return self._change(change)

    def undeploy(self, workflow_id: str, owner: str) -> Deployment:
        def change(tx: DeploymentTx, undo: UndoLog) -> Deployment:
            current = self._owned(tx.lock_deployment(workflow_id), workflow_id, owner)
            records = tx.list_triggers(workflow_id)
            self._triggers.remove_all(tx, records, undo)
            self._drop_secrets(workflow_id, owner, _refs(records), undo)
            undeployed = replace(current, status=DeploymentStatus.UNDEPLOYED, updated_at=self._clock())
            tx.save_deployment(undeployed)
            return undeployed

        return self._change(change)

    def pause(self, workflow_id: str, owner: str) -> tuple[Deployment, list[TriggerRecord]]:
        return self._set_paused(workflow_id, owner, paused=True)

    def resume(self, workflow_id: str, owner: str) -> tuple[Deployment, list[TriggerRecord]]:
        return self._set_paused(workflow_id, owner, paused=False)

    def _set_paused(self, workflow_id: str, owner: str, paused: bool) -> tuple[Deployment, list[TriggerRecord]]:
        target = DeploymentStatus.PAUSED if paused else DeploymentStatus.DEPLOYED

        def change(tx: DeploymentTx, undo: UndoLog) -> tuple[Deployment, list[TriggerRecord]]:
            current = self._owned(tx.lock_deployment(workflow_id), workflow_id, owner)
            records = tx.list_triggers(workflow_id)
            if current.status == target:
                return current, _in_node_order(records, current.spec)
            updated = replace(current, status=target, updated_at=self._clock())
            tx.save_deployment(updated)
            return updated, _in_node_order(self._triggers.set_paused(tx, records, paused, undo), current.spec)

        return self._change(change)

    # -- helpers ---------------------------------------------------------------------------------------

    def _change(self, change: Callable[[DeploymentTx, UndoLog], T]) -> T:
        undo = UndoLog(self._run_all)
        try:
            with self._store.transaction() as tx:
                result = change(tx, undo)
                undo.flush(tx)  # the deferred side effects, once every check in the database has passed
                return result
        except BaseException:
            failed = undo.run()
            if failed and self._on_compensation_failure is not None:
                self._on_compensation_failure(failed)
            raise

    def _check_refs(
        self, workflow_id: str, owner: str, triggers: list[TriggerSpec], inline: dict[str, InlineSecret]
    ) -> None:
        """Refuse a new or changed trigger naming a secret that is not the caller's (unchanged ones were checked)."""
        problems = []
        for trigger in triggers:
            for where, ref in named_secrets(trigger.type, trigger.config):
                if ref in inline and inline[ref].trigger_id == trigger.trigger_id:
                    continue  # its own inline secret, written below
                info = self._secrets.describe(ref) if self._secrets is not None else None
                why = refusal(info, owner, workflow_id, trigger.trigger_id)
                if why is not None:
                    problems.append(Problem(f"parameters.{where}", why, trigger.trigger_id))
        if problems:
            raise SecretRefused(problems)

    def _check_trigger_count(self, raw_spec: Any) -> None:
        """Refuse an oversized workflow before any work: every trigger costs validation and outside calls."""
        nodes = raw_spec.get("nodes") if isinstance(raw_spec, dict) else None
        if isinstance(nodes, list):
            count = sum(1 for n in nodes if isinstance(n, dict) and n.get("node_type") == TRIGGER_NODE)
            if count > self._max_triggers:
                raise TooManyTriggers(count, self._max_triggers)

    def _secret_store(self, inline: dict[str, InlineSecret]) -> SecretStore:
        """Where inline secrets go; without one they are refused (the caller may pass ``secret_ref``)."""
        if self._secrets is None:
            first = next(iter(inline.values()))
            message = f"inline secrets need Secrets Manager; pass '{first.reference}' instead"
            raise SpecInvalid([Problem(first.parameter, message)])
        return self._secrets

    def _current_secret_values(
        self, workflow_id: str, owner: str, inline: dict[str, InlineSecret]
    ) -> dict[str, str | None]:
        """The current value of each inline secret's managed secret; refuses one the service did not make for it."""
        if not inline:
            return {}
        store = self._secret_store(inline)
        values: dict[str, str | None] = {}
        problems = []
        for name, secret in inline.items():
            info = store.describe(name)
            if info is not None and not created_for(info, owner, workflow_id, secret.trigger_id):
                message = f"the secret {name!r} exists but was not created by this service for this trigger"
                problems.append(Problem(f"parameters.{secret.parameter}", message, secret.trigger_id))
                continue
            values[name] = None if info is None or info.deleted else store.read(name)
        if problems:
            raise SecretRefused(problems)
        return values

    def _write_secrets(
        self,
        workflow_id: str,
        owner: str,
        secrets: dict[str, InlineSecret],
        previous: dict[str, str | None],
        undo: UndoLog,
    ) -> None:
        if not secrets:
            return
        store = self._secret_store(secrets)
        for name, secret in secrets.items():
            store.write(name, secret.value, owner_tags(owner, workflow_id, secret.trigger_id))
            before = previous[name]
            restore = partial(store.write, name, before, {}) if before is not None else partial(store.delete, name)
            undo.add(f"restore secret {name}", restore)

    def _drop_secrets(self, workflow_id: str, owner: str, refs: set[tuple[str, str]], undo: UndoLog) -> None:
        """Delete the secrets the service made for these triggers and that nothing uses any more (recoverable;
        restored if the change fails). Any other secret, a user's own or another user's, is never touched."""
        if not refs or self._secrets is None:
            return
        store = self._secrets
        for trigger_id, name in sorted(refs):
            if name not in managed_secret_names(workflow_id, trigger_id):
                continue
            info = store.describe(name)
            if info is None or info.deleted or not created_for(info, owner, workflow_id, trigger_id):
                continue
            before = store.read(name)
            store.delete(name)
            if before is not None:
                undo.add(f"restore secret {name}", partial(store.write, name, before, {}))

    @staticmethod
    def _owned(deployment: Deployment | None, workflow_id: str, owner: str) -> Deployment:
        # Another user's workflow is reported exactly like a missing one: its existence is not disclosed.
        if deployment is None or deployment.owner != owner or deployment.status == DeploymentStatus.UNDEPLOYED:
            raise DeploymentNotFound(workflow_id)
        return deployment


def _check_workflow_id(workflow_id: str) -> None:
    if not WORKFLOW_ID.match(workflow_id):
        raise SpecInvalid(
            [
                Problem(
                    "workflow_id",
                    "must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit",
                )
            ]
        )


def _refs(records: list[TriggerRecord]) -> set[tuple[str, str]]:
    return secret_refs([(r.trigger_id, r.type, r.config) for r in records])


def _in_node_order(records: list[TriggerRecord], spec: dict[str, Any]) -> list[TriggerRecord]:
    """Triggers in the order their nodes appear in the spec, as the user wrote them."""
    position = {node.get("id"): i for i, node in enumerate(spec.get("nodes", [])) if isinstance(node, dict)}
    return sorted(records, key=lambda r: position.get(r.trigger_id, len(position)))
