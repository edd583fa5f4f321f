"""Manual runs: the owner fires a workflow's manual trigger through the API (docs/architecture.md)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from workflow_scheduler.domain.errors import DeploymentNotFound, Forbidden, NotFound, Problem, SpecInvalid
from workflow_scheduler.domain.firing import (
    ByWorkflow,
    FiringDeps,
    FiringOutcome,
    FiringService,
    FiringStatus,
    FiringTarget,
    TargetStore,
    WorkflowPaused,
    execution_id_for,
)
from workflow_scheduler.domain.models import DeploymentStatus, TriggerType


class ConfirmationRequired(Forbidden):
    code = "confirmation_required"

    def extra_body(self) -> dict[str, Any]:
        return {"status": self.code}  # the seed's answer: {"status": "confirmation_required", "message"}


class NoManualTrigger(NotFound):
    code = "no_manual_trigger"


@dataclass(frozen=True)
class ManualRequest:
    """A manual run asked for through the API by ``user``."""

    workflow_id: str
    user: str
    confirmation: bool = False
    inputs: dict[str, Any] = field(default_factory=dict)
    trigger_id: str | None = None  # which manual trigger, when the workflow has several


class ManualFiring:
    def __init__(
        self,
        targets: TargetStore,
        firing: FiringService,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_key: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._targets = targets
        self._firing = firing
        self._clock = clock
        self._new_key = new_key

    def fire(self, request: ManualRequest) -> FiringOutcome:
        workflow_id, user = request.workflow_id, request.user
        target = self._pick(workflow_id, user, request.trigger_id)
        if target.trigger.config.get("require_confirmation") and not request.confirmation:
            raise ConfirmationRequired('this workflow asks for confirmation: send {"confirmation": true} to run it')
        record = target.trigger
        key = self._new_key()  # every manual run is a new execution
        execution_id = execution_id_for(record.workflow_id, record.trigger_id, key)
        data = {
            "trigger_time": self._clock().isoformat(),
            "execution_id": execution_id,
            "user_id": user,
            "inputs": request.inputs,
        }
        outcome = self._firing.fire(target, key, data)
        if outcome.status == FiringStatus.REFUSED:
            raise WorkflowPaused(f"workflow {workflow_id!r} is paused: resume it to run it ({outcome.reason})")
        return outcome

    def _pick(self, workflow_id: str, user: str, trigger_id: str | None) -> FiringTarget:
        everything = self._targets.targets(ByWorkflow(workflow_id))
        # Another user's workflow is reported exactly like a missing one.
        if (
            not everything
            or everything[0].owner != user
            or everything[0].deployment_status == DeploymentStatus.UNDEPLOYED
        ):
            raise DeploymentNotFound(workflow_id)
        manual = [t for t in everything if t.trigger.type == TriggerType.MANUAL]
        if trigger_id is not None:
            chosen = [t for t in manual if t.trigger.trigger_id == trigger_id]
            if not chosen:
                raise NoManualTrigger(f"workflow {workflow_id!r} has no manual trigger {trigger_id!r}")
            return chosen[0]
        if not manual:
            raise NoManualTrigger(f"workflow {workflow_id!r} has no manual trigger (TRIGGER_MANUAL node)")
        if len(manual) > 1:
            ids = ", ".join(t.trigger.trigger_id for t in manual)
            raise SpecInvalid(
                [Problem("trigger_id", f"the workflow has several manual triggers ({ids}): name one")],
                what="the request",
            )
        return manual[0]


def build(deps: FiringDeps) -> ManualFiring:
    return ManualFiring(deps.targets, deps.service)
