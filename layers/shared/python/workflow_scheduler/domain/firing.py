"""The one firing path: every trigger type's ``TriggerFiring`` turns an outside event into a ``TriggerEvent`` and
hands it to ``FiringService``; each finds its triggers through one store contract, ``TargetStore.targets(query)``.

A firing gets a deterministic ``execution_id`` from what makes it unique, is recorded in ``trigger_events``
whatever its outcome, and, when accepted, is put on the dispatch queue. Only the dispatch function talks to
the engine. A firing for a paused or undeployed workflow, a switched-off trigger or an older deployment version
is refused and recorded, never sent.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from workflow_scheduler.domain.errors import Conflict, Invalid, Problem, SpecInvalid, Unavailable
from workflow_scheduler.domain.json_limits import json_depth_exceeds, too_deep_message
from workflow_scheduler.domain.models import DeploymentStatus, TriggerRecord, TriggerStatus, TriggerType

# Fixed forever: execution ids derived from it must stay the same across releases.
_EXECUTION_NAMESPACE = uuid.UUID("6f1d2a4e-3b7c-4d8e-9f10-a1b2c3d4e5f6")
# SQS takes messages up to 1 MiB; larger trigger data waits in the store and the message carries a reference.
MAX_INLINE_MESSAGE_BYTES = 900 * 1024


def execution_id_for(workflow_id: str, trigger_id: str, unique_key: str) -> str:
    """Deterministic: the same workflow, trigger and unique key always give the same execution id."""
    name = "\x1f".join((workflow_id, trigger_id, unique_key))  # a separator no id contains
    return f"exec_{uuid.uuid5(_EXECUTION_NAMESPACE, name)}"


class FiringStatus(StrEnum):
    QUEUED = "queued"  # on the dispatch queue
    RETRYING = "retrying"  # the engine failed transiently; the queue will deliver it again
    DISPATCHED = "dispatched"  # the engine accepted it (2xx)
    FAILED = "failed"  # the engine refused it for good (4xx), or it could not be queued
    PARKED = "parked"  # retries exhausted: in the dead-letter queue, `dlq redrive` sends it again
    REFUSED = "refused"  # paused, undeployed, switched off or stale: never sent
    DUPLICATE = "duplicate"  # this execution id had already fired


class TriggerEvent(BaseModel):
    """A firing on its way to the engine: the dispatch queue's message body."""

    model_config = ConfigDict(frozen=True)

    execution_id: str
    workflow_id: str
    trigger_id: str
    trigger_type: TriggerType
    version: int
    data: dict[str, Any]
    fired_at: datetime
    # True when the data is too large for a queue message: it waits in the store under the execution id.
    payload_stored: bool = False
    # Identifies the request behind a caller-chosen key (a webhook's Idempotency-Key); kept with the claim, never
    # sent: the same key with another request is refused (FiringStore.claim).
    request_fingerprint: str | None = None

    def message_body(self) -> str:
        """The dispatch queue message: JSON that SQS takes (it refuses U+FFFE and U+FFFF, even inside strings)."""
        text = self.model_dump_json(exclude={"request_fingerprint"})
        return text.replace("\ufffe", "\\ufffe").replace("\uffff", "\\uffff")

    def engine_body(self) -> dict[str, Any]:
        """The body of the engine's execute call (docs/architecture.md)."""
        return {
            "execution_id": self.execution_id,
            "workflow_id": self.workflow_id,
            "trigger": {"type": self.trigger_type.value, "trigger_id": self.trigger_id, "data": self.data},
            "triggered_at": self.fired_at.isoformat(),
        }


@dataclass(frozen=True)
class FiringTarget:
    """A registered trigger and the state of its deployment, as found when a firing arrives."""

    deployment_status: DeploymentStatus
    owner: str
    trigger: TriggerRecord


@dataclass(frozen=True)
class FiringOutcome:
    """What every type's firing answers."""

    status: FiringStatus
    execution_id: str
    reason: str | None = None
    delay_seconds: float | None = None  # how long after it was due the event came (cron: its scheduled minute)

    @property
    def accepted(self) -> bool:
        return self.status in (FiringStatus.QUEUED, FiringStatus.DUPLICATE)


@dataclass(frozen=True)
class ByWorkflow:
    """Every trigger of a workflow (a manual run picks among them)."""

    workflow_id: str


@dataclass(frozen=True)
class ByTrigger:
    """One trigger, by its key (a scheduled invocation names it)."""

    workflow_id: str
    trigger_id: str


@dataclass(frozen=True)
class ByWebhookPath:
    """The trigger that owns a webhook path."""

    path: str


@dataclass(frozen=True)
class ByGithubEvent:
    """The GitHub triggers of a repository (any case: GitHub ignores it) that listen to an event; their filters
    decide afterwards which of them fire."""

    repository: str  # owner/name
    event: str  # X-GitHub-Event


TargetQuery = ByWorkflow | ByTrigger | ByWebhookPath | ByGithubEvent


class TargetStore(Protocol):
    def targets(self, query: TargetQuery) -> list[FiringTarget]:
        """The registered triggers the query names, each with its deployment's state (none: an empty list)."""


RequestT_contra = TypeVar("RequestT_contra", contravariant=True)


class TriggerFiring(Protocol[RequestT_contra]):
    """Every trigger type's firing (``<type>/firing.py``): one outside event in, one outcome out. A refusal the
    caller must hear about (a paused workflow, bad credentials) is a ``DomainError``."""

    def fire(self, request: RequestT_contra) -> FiringOutcome: ...


# Reads a secret's value by name; checks that a trigger may use a secret (raises when it may not).
SecretReader = Callable[[str], str]
SecretOwnerCheck = Callable[[str, FiringTarget], None]


class WorkflowPaused(Conflict):
    code = "workflow_paused"


class IdempotencyKeyReused(Invalid):
    """A caller's key that already named another request: taking it as a retry would drop this request's data
    unseen (422, as the IETF Idempotency-Key draft says)."""

    code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__("this key was sent before with another request; send a new key for a new request")


class DispatchUnavailable(Unavailable):
    """The dispatch queue could not take the firing; nothing was sent, the caller may retry."""

    code = "dispatch_unavailable"


class FiringStore(Protocol):
    def claim(self, event: TriggerEvent, store_payload: bool = False) -> AbstractContextManager[bool]:
        """Record the firing as queued and own its execution id; yields False when the id was already claimed,
        and raises ``IdempotencyKeyReused`` instead when that claim's ``request_fingerprint`` differs from the event's.

        The claim commits when the block exits normally and is rolled back if it raises, so a firing that
        could not be queued leaves its execution id free for a retry. ``store_payload`` keeps the event's data
        in the store (for data too large for a queue message).
        """

    def record(self, event: TriggerEvent, status: FiringStatus, error: str | None = None) -> None:
        """Record a firing that does not own its execution id (refused, duplicate, could not be queued)."""


class DispatchQueue(Protocol):
    def send(self, event: TriggerEvent, delay_seconds: int = 0) -> None: ...


def undeliverable(data: dict[str, Any]) -> list[Problem]:
    """What in the trigger data could not reach the engine unchanged, one problem per part (body, inputs, ...).

    Each part may nest ``MAX_JSON_DEPTH`` levels, like JSON at the door, so the queue message (two levels more)
    can always be read back. NaN, Infinity and lone surrogates have no JSON form: the message writer would
    change them to null or fail.
    """
    problems = []
    for key, value in data.items():
        if json_depth_exceeds(value):
            problems.append(Problem(key, too_deep_message()))
            continue
        try:
            json.dumps(value, ensure_ascii=False, allow_nan=False).encode()
        except UnicodeEncodeError:
            problems.append(Problem(key, "a string holds a lone surrogate (U+D800-U+DFFF), which JSON cannot carry"))
        except ValueError:
            problems.append(Problem(key, "NaN and Infinity are not JSON (RFC 8259)"))
    return problems


def refusal_reason(target: FiringTarget, fired_version: int | None = None) -> str | None:
    """Why this firing must not reach the engine, or None when it may."""
    if target.deployment_status == DeploymentStatus.PAUSED:
        return "the workflow is paused"
    if target.deployment_status == DeploymentStatus.UNDEPLOYED:
        return "the workflow is not deployed"
    if target.trigger.status == TriggerStatus.DISABLED:
        return "the trigger is switched off"
    if target.trigger.status == TriggerStatus.PAUSED:
        return "the trigger is paused"
    if fired_version is not None and fired_version != target.trigger.version:
        return f"the firing belongs to version {fired_version}; the trigger is at version {target.trigger.version}"
    return None


class FiringService:
    def __init__(
        self,
        store: FiringStore,
        queue: DispatchQueue,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._queue = queue
        self._clock = clock

    def refuse_missing(
        self, workflow_id: str, trigger_id: str, trigger_type: TriggerType, unique_key: str, data: dict[str, Any]
    ) -> FiringOutcome:
        """Record a firing whose trigger no longer exists (undeployed, or removed by an update)."""
        event = self._event(workflow_id, trigger_id, trigger_type, 0, unique_key, data)
        return self._refused(event, "the trigger is not deployed")

    def refuse(self, target: FiringTarget, unique_key: str, data: dict[str, Any], reason: str) -> FiringOutcome:
        """Record a firing the trigger's own rules refuse (GitHub: changed files nobody could fetch); never sent."""
        record = target.trigger
        event = self._event(record.workflow_id, record.trigger_id, record.type, record.version, unique_key, data)
        return self._refused(event, reason)

    def _event(
        self,
        workflow_id: str,
        trigger_id: str,
        trigger_type: TriggerType,
        version: int,
        unique_key: str,
        data: dict[str, Any],
    ) -> TriggerEvent:
        return TriggerEvent(
            execution_id=execution_id_for(workflow_id, trigger_id, unique_key),
            workflow_id=workflow_id,
            trigger_id=trigger_id,
            trigger_type=trigger_type,
            version=version,
            data=data,
            fired_at=self._clock(),
        )

    def _refused(self, event: TriggerEvent, reason: str) -> FiringOutcome:
        self._store.record(event, FiringStatus.REFUSED, reason)
        return FiringOutcome(FiringStatus.REFUSED, event.execution_id, reason)

    def fire(
        self,
        target: FiringTarget,
        unique_key: str,
        data: dict[str, Any],
        *,
        fired_version: int | None = None,
        delay_seconds: int = 0,
        request_fingerprint: str | None = None,
    ) -> FiringOutcome:
        """``request_fingerprint``: what identifies the request behind a caller-chosen ``unique_key``; the same key
        with another request is refused (``IdempotencyKeyReused``) rather than taken as a retry."""
        record = target.trigger
        if problems := undeliverable(data):  # refused at the door: what is accepted must be deliverable
            raise SpecInvalid(problems, what="the trigger data")
        version = fired_version if fired_version is not None else record.version
        event = self._event(record.workflow_id, record.trigger_id, record.type, version, unique_key, data)
        event = event.model_copy(update={"request_fingerprint": request_fingerprint})
        reason = refusal_reason(target, fired_version)
        if reason is not None:
            return self._refused(event, reason)
        too_large = len(event.message_body().encode()) > MAX_INLINE_MESSAGE_BYTES
        try:
            with self._store.claim(event, store_payload=too_large) as claimed:
                if not claimed:
                    outcome = FiringOutcome(FiringStatus.DUPLICATE, event.execution_id, "already fired")
                else:
                    message = event.model_copy(update={"data": {}, "payload_stored": True}) if too_large else event
                    # Sent before the claim commits: if the commit is lost, the dispatcher recreates the row;
                    # if the send fails, the claim rolls back and a retry of the same firing can go through.
                    self._queue.send(message, delay_seconds)
                    outcome = FiringOutcome(FiringStatus.QUEUED, event.execution_id)
        except DispatchUnavailable as exc:
            self._store.record(event, FiringStatus.FAILED, exc.message)
            raise
        except IdempotencyKeyReused as exc:
            self._store.record(event, FiringStatus.REFUSED, exc.message)
            raise
        if outcome.status == FiringStatus.DUPLICATE:
            self._store.record(event, FiringStatus.DUPLICATE, outcome.reason)
        return outcome


@dataclass(frozen=True)
class FiringDeps:
    """What a type's firing is built from (``build(deps)`` in ``<type>/firing.py`` takes the parts it needs)."""

    targets: TargetStore
    service: FiringService
    read_secret: SecretReader | None = None  # webhook: the trigger's auth secret
    check_secret: SecretOwnerCheck | None = None
    max_body_bytes: int | None = None  # webhook: larger request bodies are refused
