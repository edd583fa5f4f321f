"""The published shapes of the API function's successful answers (OpenAPI only; the routes return dicts).

Each names the fields a client can rely on; extra fields are allowed, so a trigger type may describe itself
further (``webhook_url``, ``next_run_times``, ...) and the contract still holds. ``make fuzz`` checks every
answer against these.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from workflow_scheduler.domain.history import Health


class _View(BaseModel):
    model_config = ConfigDict(extra="allow")


class HealthView(_View):
    status: str
    dependencies: dict[str, str]


class TriggerView(_View):
    trigger_id: str
    type: str
    status: str
    version: int


class TriggerHealthView(TriggerView):
    registered_at: str | None
    last_fired_at: str | None
    last_status: str | None
    last_error: str | None
    health: Health = Field(description="healthy, degraded, stale or failing (docs/decisions.md)")
    health_reason: str | None = Field(description="why the trigger is not healthy; null when it is")


class DeploymentView(_View):
    workflow_id: str
    deployment_id: str
    status: str
    version: int
    created_at: str
    updated_at: str
    triggers: list[TriggerView]


class DeployedView(DeploymentView):
    changed: bool


class StatusView(DeploymentView):
    workflow_spec: dict[str, Any]


class UndeployedView(_View):
    workflow_id: str
    status: str
    version: int


class TriggersView(_View):
    workflow_id: str
    status: str
    version: int
    triggers: list[TriggerHealthView]


class FiringView(_View):
    execution_id: str
    trigger_id: str
    trigger_type: str
    version: int | None
    status: str
    error: str | None
    attempts: int
    latency_ms: int | None
    fired_at: str
    updated_at: str
    dispatched_at: str | None


class EventsView(_View):
    workflow_id: str
    events: list[FiringView]
    next_cursor: str | None


class ManualRunView(_View):
    status: str
    execution_id: str


class CronPreviewView(_View):
    runs: list[str]
    warnings: list[str]
    schedules: list[str]
