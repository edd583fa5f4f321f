"""What fired and what became of it: the owner's view of ``trigger_events``."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from workflow_scheduler.domain.errors import DeploymentNotFound, Problem, SpecInvalid
from workflow_scheduler.domain.firing import FiringStatus
from workflow_scheduler.domain.models import Deployment

MAX_PAGE = 200
# Trigger health looks at a trigger's newest accepted firings, failures counting as recent for a day.
RECENT_FIRINGS = 10
RECENT_FAILURES_WINDOW = timedelta(hours=24)


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

    def last_firings(self, workflow_id: str, trigger_ids: Sequence[str]) -> dict[str, Firing]:
        """Each trigger's newest firing of any status."""

    def recent_firings(self, workflow_id: str, trigger_ids: Sequence[str], per_trigger: int) -> dict[str, list[Firing]]:
        """Each trigger's newest accepted (claimed) firings, newest first."""

    def stuck_firings(self, workflow_id: str, unchanged_since: datetime) -> dict[str, Firing]:
        """Each trigger's oldest firing still queued or retrying whose row has not changed since then."""


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


class Health(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    STALE = "stale"
    FAILING = "failing"


@dataclass(frozen=True)
class TriggerHealth:
    status: Health
    reason: str


@dataclass(frozen=True)
class TriggerActivity:
    last: Firing | None  # its newest firing of any status (refused and duplicate ones too)
    health: TriggerHealth


_NOT_THROUGH = (FiringStatus.FAILED, FiringStatus.PARKED)
_RESOLVED = (FiringStatus.DISPATCHED, *_NOT_THROUGH)


def _ago(now: datetime, then: datetime) -> str:
    minutes = int((now - then).total_seconds() // 60)
    return f"{minutes} min ago" if minutes < 120 else f"{minutes // 60} h ago"


def trigger_health(
    recent: Sequence[Firing], stuck: Firing | None, now: datetime, stale_after: timedelta
) -> TriggerHealth:
    """A trigger's health from its accepted firings: ``recent``, newest first, and ``stuck``, one queued or
    retrying without progress for longer than ``stale_after`` (its retries would have moved it by then).

    failing: its newest firing with an outcome did not get through (failed or parked); stale: a firing was
    accepted and never resolved; degraded: its newest firing is being retried, or a recent one did not get
    through; healthy: otherwise, including never fired. The reason names the firing.
    """
    outcome = next((f for f in recent if f.status in _RESOLVED), None)
    if outcome is not None and outcome.status in _NOT_THROUGH:
        return TriggerHealth(
            Health.FAILING,
            f"its last firing with an outcome, {outcome.execution_id} ({_ago(now, outcome.fired_at)}),"
            f" {outcome.status}: {outcome.error or 'no reason recorded'}",
        )
    if stuck is not None:
        return TriggerHealth(
            Health.STALE,
            f"firing {stuck.execution_id} was accepted {_ago(now, stuck.fired_at)} and is still {stuck.status},"
            f" unchanged for longer than its retries can take ({int(stale_after.total_seconds())} s):"
            " it may be lost; look for it in the dispatch dead-letter queue",
        )
    if recent and recent[0].status == FiringStatus.RETRYING:
        last = recent[0]
        return TriggerHealth(
            Health.DEGRADED,
            f"its last firing, {last.execution_id}, is being retried after {last.attempts} attempt(s):"
            f" {last.error or 'no reason recorded'}",
        )
    failures = [f for f in recent if f.status in _NOT_THROUGH and now - f.fired_at <= RECENT_FAILURES_WINDOW]
    if failures:
        return TriggerHealth(
            Health.DEGRADED,
            f"{len(failures)} of its last {len(recent)} firings did not get through in the last 24 h"
            f" (latest: {failures[0].execution_id}, {failures[0].status}); the ones since did",
        )
    if not recent:
        return TriggerHealth(Health.HEALTHY, "it has not fired yet")
    if recent[0].status == FiringStatus.QUEUED:
        return TriggerHealth(Health.HEALTHY, "its last firing is queued for the engine")
    return TriggerHealth(Health.HEALTHY, "its last firing reached the engine")


class History:
    def __init__(
        self,
        deployments: DeploymentLookup,
        store: HistoryStore,
        stale_after: timedelta = timedelta(hours=1),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._deployments = deployments
        self._store = store
        self._stale_after = stale_after
        self._clock = clock

    def _owned(self, workflow_id: str, owner: str) -> None:
        deployment = self._deployments.get_deployment(workflow_id)
        # History outlives an undeploy, but only its owner sees it.
        if deployment is None or deployment.owner != owner:
            raise DeploymentNotFound(workflow_id)

    def activity(self, workflow_id: str, owner: str, trigger_ids: Sequence[str]) -> dict[str, TriggerActivity]:
        """Each trigger's last firing and health."""
        self._owned(workflow_id, owner)
        now = self._clock()
        last = self._store.last_firings(workflow_id, trigger_ids)
        recent = self._store.recent_firings(workflow_id, trigger_ids, RECENT_FIRINGS)
        stuck = self._store.stuck_firings(workflow_id, now - self._stale_after)
        return {
            trigger_id: TriggerActivity(
                last.get(trigger_id),
                trigger_health(recent.get(trigger_id, []), stuck.get(trigger_id), now, self._stale_after),
            )
            for trigger_id in trigger_ids
        }

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
