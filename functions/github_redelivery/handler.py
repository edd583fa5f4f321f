"""The github redelivery function: a scheduled sweep asking GitHub to redeliver the failed deliveries the service
never recorded (GitHub never retries one by itself), and forgetting recorded deliveries past their retention."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from workflow_scheduler.observability import log_event, logger, metrics, tracer
from workflow_scheduler.settings import GithubRedeliverySettings
from workflow_scheduler.wiring import github_redelivery_sweep

sweep = github_redelivery_sweep(GithubRedeliverySettings.from_environment())


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = sweep.run()
    metrics.add_metric(name="GithubRedeliveries", unit=MetricUnit.Count, value=len(report.redelivered))
    metrics.add_metric(name="GithubDeliveriesGivenUp", unit=MetricUnit.Count, value=len(report.gave_up))
    log_event("github_redelivery_sweep", **report.as_dict())
    return report.as_dict()
