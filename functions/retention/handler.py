"""The retention function: a daily run that keeps the firing history to its retention period (domain/retention.py).

It creates the history's month partitions ahead of the firings that need them, then drops the months wholly past
``FIRING_RETENTION_DAYS`` (default 30) with the claims of their execution ids.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from workflow_scheduler.observability import log_event, logger, metrics, tracer
from workflow_scheduler.settings import RetentionSettings
from workflow_scheduler.wiring import history_retention

retention = history_retention(RetentionSettings.from_environment())


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = retention.run(dry_run=bool(event.get("dry_run", False)))
    metrics.add_metric(name="HistoryPartitionsCreated", unit=MetricUnit.Count, value=len(report.created))
    metrics.add_metric(name="HistoryPartitionsDropped", unit=MetricUnit.Count, value=len(report.dropped))
    metrics.add_metric(name="ClaimsExpired", unit=MetricUnit.Count, value=report.claims_expired)
    if report.skipped:  # retried by the next run; a month partition stays needed or droppable for weeks
        logger.warning("retention left work for the next run", extra={"skipped": report.skipped})
    # Nested: its keys ("created" among them) would clash with the attributes of a log record.
    log_event("history_retained", status="dry_run" if report.dry_run else "applied", report=report.as_dict())
    return report.as_dict()
