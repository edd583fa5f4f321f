"""What the deployment domain stores and answers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workflow_scheduler.domain.spec import TriggerSpec

WORKFLOW_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
# For Python's re, where `$` also matches before a final newline ("wf\n"): `.match` with `\Z` is whole-string.
WORKFLOW_ID = re.compile(WORKFLOW_ID_PATTERN.removesuffix("$") + r"\Z")


class TriggerType(StrEnum):
    CRON = "cron"
    MANUAL = "manual"
    WEBHOOK = "webhook"
    EMAIL = "email"
    GITHUB = "github"

    @property
    def subtype(self) -> str:
        """The node ``subtype`` that names this type in a workflow spec."""
        return f"TRIGGER_{self.value.upper()}"


class DeploymentStatus(StrEnum):
    DEPLOYED = "deployed"
    PAUSED = "paused"
    UNDEPLOYED = "undeployed"


class TriggerStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    DISABLED = "disabled"  # the trigger's own switch is off (cron `enabled: false`)


@dataclass(frozen=True)
class Deployment:
    workflow_id: str
    deployment_id: str
    owner: str
    spec: dict[str, Any]
    version: int
    status: DeploymentStatus
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class TriggerRecord:
    """One row of the trigger index: a registered trigger of the current deployment."""

    workflow_id: str
    trigger_id: str
    type: TriggerType
    config: dict[str, Any]
    config_hash: str
    version: int  # the deployment version that (re)registered this trigger; firings carry it
    status: TriggerStatus
    lookup: dict[str, Any] = field(default_factory=dict)  # type-specific index columns
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class TriggerPlan:
    """The difference between the registered triggers and a new spec."""

    added: tuple[TriggerSpec, ...]
    changed: tuple[tuple[TriggerRecord, TriggerSpec], ...]
    removed: tuple[TriggerRecord, ...]
    unchanged: tuple[TriggerRecord, ...]

    @property
    def is_noop(self) -> bool:
        return not (self.added or self.changed or self.removed)


def plan_triggers(
    current: list[TriggerRecord], wanted: tuple[TriggerSpec, ...], renewed: frozenset[str] = frozenset()
) -> TriggerPlan:
    """Compare by trigger id and configuration hash; a changed type is a change like any other. A trigger in
    ``renewed`` (its secret's value changes) is registered again even when its configuration is the same."""
    by_id = {record.trigger_id: record for record in current}
    wanted_ids = {spec.trigger_id for spec in wanted}
    added, changed, unchanged = [], [], []
    for spec in wanted:
        record = by_id.get(spec.trigger_id)
        if record is None:
            added.append(spec)
        elif record.config_hash != spec.config_hash or spec.trigger_id in renewed:
            changed.append((record, spec))
        else:
            unchanged.append(record)
    removed = tuple(r for r in current if r.trigger_id not in wanted_ids)
    return TriggerPlan(tuple(added), tuple(changed), removed, tuple(unchanged))


@dataclass(frozen=True)
class DeploymentResult:
    deployment: Deployment
    triggers: list[TriggerRecord]
    changed: bool  # False when the request matched what was deployed: nothing was written
