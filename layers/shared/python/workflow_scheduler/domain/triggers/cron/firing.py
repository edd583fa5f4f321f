"""Cron firings: EventBridge Scheduler invokes the cron function with the schedule's input (docs/cron.md).

EventBridge delivers at least once and Lambda retries asynchronous invocations, and a split expression has two
schedules that can both name the same minute: the execution id comes from (trigger, scheduled time), so every
copy of one scheduled minute is one execution.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from workflow_scheduler.domain.firing import ByTrigger, FiringDeps, FiringOutcome, FiringService, TargetStore
from workflow_scheduler.domain.models import TriggerType


class CronInvocation(BaseModel):
    """The cron function's event: the schedule's target input with EventBridge's context attributes filled in."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    workflow_id: str = Field(min_length=1)
    trigger_id: str = Field(min_length=1)
    version: int = Field(ge=1)
    scheduled_time: datetime
    schedule_arn: str | None = None

    @field_validator("scheduled_time")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("scheduled_time must carry its offset (EventBridge sends UTC with 'Z')")
        return value.astimezone(UTC)


def jitter_seconds(workflow_id: str, trigger_id: str, spread_seconds: int) -> int:
    """A fixed delay in [0, spread] from a hash of the trigger's identity (the seed's hash dispersal)."""
    if spread_seconds <= 0:
        return 0
    digest = hashlib.sha256(f"{workflow_id}\x1f{trigger_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (spread_seconds + 1)


class CronFiring:
    def __init__(
        self,
        targets: TargetStore,
        firing: FiringService,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._targets = targets
        self._firing = firing
        self._clock = clock

    def fire(self, invocation: CronInvocation) -> FiringOutcome:
        """Fire (or refuse) one scheduled minute; the outcome carries the schedule's delay."""
        scheduled = invocation.scheduled_time.isoformat().replace("+00:00", "Z")
        delay = (self._clock() - invocation.scheduled_time).total_seconds()
        found = self._targets.targets(ByTrigger(invocation.workflow_id, invocation.trigger_id))
        target = found[0] if found else None
        base = {"scheduled_time": scheduled, "schedule_arn": invocation.schedule_arn}
        if target is None or target.trigger.type != TriggerType.CRON:
            outcome = self._firing.refuse_missing(
                invocation.workflow_id, invocation.trigger_id, TriggerType.CRON, scheduled, base
            )
            return replace(outcome, delay_seconds=delay)
        config = target.trigger.config
        data = {
            **base,
            "timezone": config.get("timezone", "UTC"),
            "cron_expression": config.get("cron_expression"),
            "trigger_time": self._clock().isoformat(),
        }
        spread = int(config.get("jitter_seconds") or 0)
        outcome = self._firing.fire(
            target,
            scheduled,
            data,
            fired_version=invocation.version,
            delay_seconds=jitter_seconds(invocation.workflow_id, invocation.trigger_id, spread),
        )
        return replace(outcome, delay_seconds=delay)


def build(deps: FiringDeps) -> CronFiring:
    return CronFiring(deps.targets, deps.service)
