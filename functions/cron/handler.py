"""The cron function: EventBridge Scheduler invokes it at each scheduled minute of a cron trigger (docs/cron.md)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from workflow_scheduler.domain.models import TriggerType
from workflow_scheduler.domain.triggers.cron.firing import CronInvocation
from workflow_scheduler.observability import log_event, logger, metrics, tracer
from workflow_scheduler.settings import CronSettings
from workflow_scheduler.wiring import cron_firing

firing = cron_firing(CronSettings.from_environment())


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    invocation = parse(event=event, model=CronInvocation)
    # An exception (database or queue down) fails the invocation: EventBridge and Lambda retry it with the same
    # scheduled time, which is the same execution id, so a retry can never fire twice.
    outcome = firing.fire(invocation)
    delay_seconds = outcome.delay_seconds or 0.0
    metrics.add_metric(name="ScheduleDelay", unit=MetricUnit.Seconds, value=max(delay_seconds, 0.0))
    metrics.add_metric(name="Firings", unit=MetricUnit.Count, value=1)
    log_event(
        "trigger_fired",
        trigger_type=TriggerType.CRON.value,
        workflow_id=invocation.workflow_id,
        trigger_id=invocation.trigger_id,
        execution_id=outcome.execution_id,
        scheduled_time=invocation.scheduled_time.isoformat(),
        delay_ms=int(delay_seconds * 1000),
        status=outcome.status.value,
    )
    return {"status": outcome.status.value, "execution_id": outcome.execution_id, "reason": outcome.reason}
