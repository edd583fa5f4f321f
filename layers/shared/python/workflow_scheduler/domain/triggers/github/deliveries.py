"""GitHub deliveries and App installations as the service records them (issue 9).

The github function records each delivery (unique ``X-GitHub-Delivery``) before it answers; the router reads it
back, routes it and records what became of each candidate trigger; the redelivery sweep asks which failed
deliveries were never recorded. ``installation`` and ``installation_repositories`` events keep the installations
current: a suspended or removed installation fires nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

MAX_RECORDED_OUTCOMES = 100  # per delivery; the counts stay exact beyond it


class DeliveryStatus(StrEnum):
    RECEIVED = "received"  # recorded and queued; not routed yet
    ROUTED = "routed"  # every candidate trigger was matched and, when it matched, fired (or refused)
    FAILED = "failed"  # the last routing attempt failed; the queue tries again, then parks it


class InstallationState(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REMOVED = "removed"


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    event: str
    action: str | None
    repository: str | None  # owner/name as the payload spells it
    installation_id: int | None
    sender: str | None
    body: str | None  # the raw JSON text; None once routed
    status: DeliveryStatus = DeliveryStatus.RECEIVED

    def described(self) -> dict[str, Any]:
        """What identifies the delivery, in short (its record's columns; the trigger data's first fields)."""
        return {
            "delivery_id": self.delivery_id,
            "event": self.event,
            "action": self.action,
            "repository": self.repository,
            "installation_id": self.installation_id,
            "sender": self.sender,
        }


@dataclass(frozen=True)
class InstallationChange:
    """What one installation event says about its installation; None fields leave the record as it is."""

    installation_id: int
    state: InstallationState | None = None
    account_login: str | None = None
    account_type: str | None = None
    repository_selection: str | None = None
    repositories: tuple[str, ...] | None = None  # the whole list (``created``)
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Installation:
    installation_id: int
    state: InstallationState
    account_login: str | None
    repositories: tuple[str, ...]


@dataclass(frozen=True)
class InstallationLink:
    """A user of the service (the JWT ``sub``) an operator allowed to use an installation."""

    installation_id: int
    owner: str
    linked_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"installation_id": self.installation_id, "owner": self.owner, "linked_at": self.linked_at.isoformat()}


@dataclass(frozen=True)
class TriggerOutcome:
    """What one candidate trigger made of a delivery."""

    workflow_id: str
    trigger_id: str
    outcome: str  # not_matched, or the firing's status: queued, duplicate, refused, ...
    reason: str | None = None
    execution_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {"workflow_id": self.workflow_id, "trigger_id": self.trigger_id, "outcome": self.outcome}
        return out | {k: v for k, v in (("reason", self.reason), ("execution_id", self.execution_id)) if v}


@dataclass(frozen=True)
class RoutingSummary:
    candidates: int = 0
    matched: int = 0
    outcomes: tuple[TriggerOutcome, ...] = ()
    note: str | None = None  # why nothing was routed at all

    def outcomes_json(self) -> dict[str, Any]:
        """The per-trigger record, bounded: a repository may have many triggers."""
        kept = [o.as_dict() for o in self.outcomes[:MAX_RECORDED_OUTCOMES]]
        return {"triggers": kept, "more": max(0, len(self.outcomes) - MAX_RECORDED_OUTCOMES)}


@dataclass(frozen=True)
class RecordedDelivery:
    """A delivery's row, as an operator reads it."""

    delivery: Delivery
    candidates: int | None
    matched: int | None
    outcomes: Mapping[str, Any] | None
    note: str | None
    error: str | None
    attempts: int
    received_at: datetime


class IngressLedger(Protocol):
    def record(
        self, delivery: Delivery, *, note: str | None, installation: InstallationChange | None
    ) -> AbstractContextManager[bool]:
        """Record a new delivery (with ``note``: already routed, nothing to queue) and apply ``installation``.

        Yields False when the delivery id was recorded before (nothing is written). Commits when the block exits
        normally, rolls back if it raises: a delivery that could not be queued is not recorded, so GitHub sees a
        failure and the redelivery sweep asks for it again.
        """


class RouterLedger(Protocol):
    def delivery(self, delivery_id: str) -> Delivery | None: ...

    def installation_state(self, installation_id: int) -> InstallationState | None:
        """None for an installation never seen in an installation event."""

    def linked_owners(self, installation_id: int) -> frozenset[str]:
        """The users of the service the installation is linked to (``workflow-scheduler github link``)."""

    def mark_routed(self, delivery_id: str, summary: RoutingSummary) -> None: ...

    def mark_failed(self, delivery_id: str, error: str) -> None: ...


class SweepLedger(Protocol):
    def recorded(self, delivery_ids: Collection[str]) -> set[str]:
        """Those of ``delivery_ids`` that were recorded."""

    def prune(self, received_before: datetime) -> int:
        """Delete the deliveries received before that time; how many."""
