"""EventBridge Scheduler schedules of cron triggers: their names, definitions and the port that manages them."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Protocol

MAX_NAME = 64
_UNSAFE = re.compile(r"[^0-9A-Za-z_.-]+")
# EventBridge Scheduler fills these in at each invocation; the scheduled time is stable across its retries.
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
SCHEDULE_ARN = "<aws.scheduler.schedule-arn>"


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    expression: str  # cron(...)
    timezone: str
    enabled: bool
    workflow_id: str
    trigger_id: str
    version: int

    def target_input(self) -> str:
        """The input EventBridge passes to the cron function (context attributes filled in at each run)."""
        return json.dumps(
            {
                "workflow_id": self.workflow_id,
                "trigger_id": self.trigger_id,
                "version": self.version,
                "scheduled_time": SCHEDULED_TIME,
                "schedule_arn": SCHEDULE_ARN,
            },
            sort_keys=True,
        )


def schedule_name(workflow_id: str, trigger_id: str, index: int) -> str:
    """Deterministic, at most 64 characters, readable where the ids allow: ``<wf>.<trigger>.<hash>-<index>``.

    The hash of the full ids keeps names unique when ids are long or carry characters a name cannot.
    """
    digest = hashlib.sha256(f"{workflow_id}\x1f{trigger_id}".encode()).hexdigest()[:10]
    suffix = f".{digest}-{index}"
    readable = _UNSAFE.sub("_", f"{workflow_id}.{trigger_id}")
    return readable[: MAX_NAME - len(suffix)] + suffix


def schedule_names_of(workflow_id: str, trigger_id: str, count: int) -> list[str]:
    return [schedule_name(workflow_id, trigger_id, i) for i in range(count)]


class ScheduleStore(Protocol):
    def create(self, spec: ScheduleSpec) -> None: ...

    def update(self, spec: ScheduleSpec) -> None:
        """Replace the whole schedule (the API replaces, it does not merge)."""

    def delete(self, name: str) -> None:
        """Delete; a schedule that is already gone is not an error."""

    def get(self, name: str) -> dict[str, Any] | None: ...

    def in_step(self, spec: ScheduleSpec, actual: dict[str, Any]) -> bool:
        """Whether ``actual`` (as ``get`` returned it) is exactly what ``spec`` defines."""

    def list_names(self) -> list[str]: ...
