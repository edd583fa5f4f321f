"""The dispatch function: firings from the dispatch queue to the workflow engine (testing mode: an e-mail instead).

SQS event source with partial batch responses (``ReportBatchItemFailures``). The records of a batch are delivered
concurrently: Powertools' ``AsyncBatchProcessor`` gathers one coroutine per record, and each runs the blocking
delivery on a worker thread; logs and metrics are written back on the event loop's one thread.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import AsyncBatchProcessor, EventType, async_process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from workflow_scheduler.adapters.dispatch_retries import SqsRetryScheduler
from workflow_scheduler.adapters.engine import engine_session
from workflow_scheduler.domain.dispatch import DispatchReport
from workflow_scheduler.domain.firing import FiringStatus
from workflow_scheduler.observability import logger, metrics, tracer
from workflow_scheduler.settings import DispatchSettings
from workflow_scheduler.wiring import dispatch_services

# An SQS event source batch holds at most 10 records without a batching window: one worker per record.
WORKERS = 10

workers = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="dispatch")
session = engine_session(pool_size=WORKERS)  # reused across invocations: warm connections to the engine
services = dispatch_services(DispatchSettings.from_environment(), session)
dispatcher, guard = services.dispatcher, services.guard
retries = SqsRetryScheduler()
# A batch whose records all wait for a retry is an expected answer, not a function error.
processor = AsyncBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class DeliveryPostponed(Exception):
    """Reported as a batch item failure: the message stays on the queue for its next attempt."""


def dispatch(record: SQSRecord) -> DispatchReport:
    """On a worker thread: deliver and record; delay the message's next delivery when it must be retried."""
    attribute = record.message_attributes["execution_id"]  # beside the body: found even if the body is unreadable
    report = dispatcher.dispatch(
        record.body,
        int(record.attributes.approximate_receive_count),
        attribute.string_value if attribute else None,
    )
    if report.retry_in_seconds is not None:
        retries.postpone(record.queue_url, record.receipt_handle, report.retry_in_seconds)
    return report


async def handle_record(record: SQSRecord) -> str | None:
    try:
        report = await asyncio.get_running_loop().run_in_executor(workers, dispatch, record)
    except Exception:
        # E.g. the database is down: the message comes back after the queue's visibility timeout.
        logger.exception("dispatch failed", extra={"event": "dispatch_error", "message_id": record.message_id})
        metrics.add_metric(name="DispatchFailures", unit=MetricUnit.Count, value=1)
        raise
    observe(report, record.message_id)
    if report.retry_in_seconds is not None:
        raise DeliveryPostponed(report.error)
    return report.status.value if report.status else None


_EVENTS = {
    FiringStatus.DISPATCHED: ("firing_dispatched", logger.info),
    FiringStatus.FAILED: ("firing_rejected", logger.warning),
    FiringStatus.RETRYING: ("dispatch_retry", logger.warning),
    FiringStatus.PARKED: ("firing_parked", logger.error),
}


def observe(report: DispatchReport, message_id: str) -> None:
    """One log line (the seed's fields) and the metrics of one record."""
    event, log = _EVENTS[report.status] if report.event and report.status else ("dispatch_unreadable", logger.error)
    if report.replayed:
        event, log = "dispatch_duplicate_skipped", logger.info
    fields: dict[str, Any] = {"event": event, "message_id": message_id, "attempt": report.attempt}
    if report.status:
        fields["status"] = report.status.value
    if report.event:
        fields.update(
            trigger_type=report.event.trigger_type.value,
            workflow_id=report.event.workflow_id,
            execution_id=report.event.execution_id,
        )
    elif report.unreadable_execution_id:
        fields["execution_id"] = report.unreadable_execution_id
    if report.delivery:
        fields.update(duration_ms=report.delivery.latency_ms, status_code=report.delivery.status_code)
    if report.error:
        fields["error"] = report.error
    if report.retry_in_seconds is not None:
        fields["retry_in_seconds"] = report.retry_in_seconds
    log(event, extra=fields)

    if report.replayed:
        metrics.add_metric(name="DuplicatesSkipped", unit=MetricUnit.Count, value=1)
    elif report.status is FiringStatus.DISPATCHED and report.delivery:
        metrics.add_metric(name="FiringsDispatched", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="DispatchLatency", unit=MetricUnit.Milliseconds, value=report.delivery.latency_ms)
    else:
        metrics.add_metric(name="DispatchFailures", unit=MetricUnit.Count, value=1)
        if report.status is FiringStatus.PARKED:
            metrics.add_metric(name="FiringsParked", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    guard.start_invocation(context)
    return async_process_partial_response(
        event=event, record_handler=handle_record, processor=processor, context=context
    )
