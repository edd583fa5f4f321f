"""The reconcile function: a daily scheduled run that makes the schedule group match the trigger index."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from workflow_scheduler.observability import log_event, logger, metrics, tracer
from workflow_scheduler.settings import ReconcileSettings
from workflow_scheduler.wiring import reconciler

reconcile = reconciler(ReconcileSettings.from_environment())


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = reconcile.run(dry_run=bool(event.get("dry_run", False)))
    for name, count in (("SchedulesCreated", report.created), ("SchedulesDeleted", report.deleted)):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=len(count))
    metrics.add_metric(name="SchedulesRepaired", unit=MetricUnit.Count, value=len(report.repaired))
    log_event("schedules_reconciled", status="dry_run" if report.dry_run else "applied", **report.as_dict())
    return report.as_dict()
