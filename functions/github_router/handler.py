"""The github router: recorded GitHub deliveries from the github events queue to the triggers they fire (issue 9).

SQS event source with partial batch responses (``ReportBatchItemFailures``): a delivery GitHub could not help
with now (rate limit, outage) or that met a store or queue failure stays on the queue and comes back after
the visibility timeout; after the queue's last receive it is parked in the dead-letter queue.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from workflow_scheduler.adapters.github_queue import delivery_id_of
from workflow_scheduler.observability import log_event, logger, metrics, tracer
from workflow_scheduler.settings import GithubRouterSettings
from workflow_scheduler.wiring import github_router

settings = GithubRouterSettings.from_environment()
router = github_router(settings)
# A batch whose deliveries all wait for GitHub is an expected answer, not a function error.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def route(record: SQSRecord) -> None:
    delivery_id = delivery_id_of(record.body)
    if delivery_id is None:  # not a message of ours: trying again cannot help
        logger.error("unreadable github events message", extra={"event": "github_message_unreadable"})
        return
    last_attempt = int(record.attributes.approximate_receive_count) >= settings.github_router_max_receives
    try:
        summary = router.route(delivery_id, last_attempt=last_attempt)
    except Exception:
        logger.exception(
            "github delivery not routed", extra={"event": "github_route_failed", "delivery_id": delivery_id}
        )
        metrics.add_metric(name="GithubRoutingFailures", unit=MetricUnit.Count, value=1)
        raise
    if summary is None:
        log_event("github_delivery_skipped", delivery_id=delivery_id, status="routed_before_or_never_recorded")
        return
    fired = [o.as_dict() for o in summary.outcomes if o.execution_id]
    log_event(
        "github_delivery_routed",
        delivery_id=delivery_id,
        candidates=summary.candidates,
        matched=summary.matched,
        firings=fired,
        note=summary.note,
    )
    metrics.add_metric(name="GithubFirings", unit=MetricUnit.Count, value=len(fired))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=route, processor=processor, context=context)
