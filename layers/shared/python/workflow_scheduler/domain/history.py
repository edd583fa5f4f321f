"""What fired and what became of it: the owner's view of ``trigger_events``."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from workflow_scheduler.domain.errors import DeploymentNotFound, Problem, SpecInvalid
from workflow_scheduler.domain.firing import FiringStatus
from workflow_scheduler.domain.models import Deployment

MAX_PAGE = 200


@dataclass(frozen=True)
class Firing:
    id: str
    execution_id: str
    trigger_id: str
    trigger_type: str
    version: int | None
    status: str
    error: str | None
    attempts: int
    latency_ms: int | None
    fired_at: datetime
    updated_at: datetime
    dispatched_at: datetime | None

    def view(self) -> dict[str, Any]:
        return {
            "execution_id": self.execution_id,
            "trigger_id": self.trigger_id,
            "trigger_type": self.trigger_type,
            "version": self.version,
            "status": self.status,
            "error": self.error,
            "attempts": self.attempts,
            "latency_ms": self.latency_ms,
            "fired_at": self.fired_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "dispatched_at": self.dispatched_at.isoformat() if self.dispatched_at else None,
        }


Cursor = tuple[datetime, str]


class HistoryStore(Protocol):
    def firings(
        self, workflow_id: str, limit: int, before: Cursor | None, status: str | None, trigger_id: str | None
    ) -> list[Firing]: ...

    def last_firings(self, workflow_id: str) -> dict[str, Firing]: ...


class DeploymentLookup(Protocol):
    def get_deployment(self, workflow_id: str) -> Deployment | None: ...


def encode_cursor(firing: Firing) -> str:
    return base64.urlsafe_b64encode(json.dumps([firing.fired_at.isoformat(), firing.id]).encode()).decode()


def decode_cursor(cursor: str) -> Cursor:
    """A cursor is opaque but not trusted: anything but exactly what ``encode_cursor`` writes (an aware
    timestamp and a firing's UUID) is a 422, never a query the database refuses."""
    try:
        fired_at, firing_id = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")), parse_constant=str)
        if not isinstance(fired_at, str) or not isinstance(firing_id, str):
            raise TypeError("cursor fields must be strings")
        when = datetime.fromisoformat(fired_at)
        if when.tzinfo is None:
            raise ValueError("cursor time must carry its offset")
        return when, str(uuid.UUID(firing_id))
    except (binascii.Error, ValueError, TypeError, UnicodeError, RecursionError) as exc:
        raise SpecInvalid([Problem("cursor", "not a cursor this API gave out")], what="the request") from exc


def trigger_health(last_status: str | None) -> str:
    """ok: never fired or its last firing is on its way or done; failing: its last firing did not get through."""
    if last_status in (FiringStatus.FAILED, FiringStatus.PARKED, FiringStatus.RETRYING):
        return "failing"
    return "ok"


class History:
    def __init__(self, deployments: DeploymentLookup, store: HistoryStore) -> None:
        self._deployments = deployments
        self._store = store

    def _owned(self, workflow_id: str, owner: str) -> None:
        deployment = self._deployments.get_deployment(workflow_id)
        # History outlives an undeploy, but only its owner sees it.
        if deployment is None or deployment.owner != owner:
            raise DeploymentNotFound(workflow_id)

    def last_firings(self, workflow_id: str, owner: str) -> dict[str, Firing]:
        self._owned(workflow_id, owner)
        return self._store.last_firings(workflow_id)

    def page(
        self,
        workflow_id: str,
        owner: str,
        *,
        limit: int = 50,
        cursor: str | None = None,
        status: str | None = None,
        trigger_id: str | None = None,
    ) -> tuple[list[Firing], str | None]:
        """Newest first; the second value is the cursor of the next page, None on the last."""
        self._owned(workflow_id, owner)
        if status is not None and status not in {s.value for s in FiringStatus}:
            known = ", ".join(s.value for s in FiringStatus)
            raise SpecInvalid([Problem("status", f"unknown status {status!r}; one of {known}")], what="the request")
        limit = max(1, min(limit, MAX_PAGE))
        rows = self._store.firings(
            workflow_id, limit + 1, decode_cursor(cursor) if cursor else None, status, trigger_id
        )
        page = rows[:limit]
        return page, encode_cursor(page[-1]) if len(rows) > limit else None
