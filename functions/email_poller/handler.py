"""The e-mail poller: EventBridge Scheduler invokes it every minute; it polls the e-mail triggers that are due
(issue 10) and reports each run in metrics (failing and stale triggers, firings) and in logs (a failure once,
when it starts; a recovery; a UIDVALIDITY reset; a message that could not fire)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from workflow_scheduler.domain.history import Health
from workflow_scheduler.domain.triggers.email.service import PollReport, TriggerReport
from workflow_scheduler.observability import log_event, logger, metrics, tracer
from workflow_scheduler.settings import EmailPollerSettings
from workflow_scheduler.wiring import email_poll_service

poller = email_poll_service(EmailPollerSettings.from_environment())


def _log(trigger: TriggerReport) -> None:
    workflow_id, trigger_id = trigger.key
    where = {"workflow_id": workflow_id, "trigger_id": trigger_id, "mailbox": trigger.mailbox}
    state, poll = trigger.state, trigger.poll
    if trigger.newly_failing:
        logger.error(
            "email_poll_failed",
            extra={
                "event": "email_poll_failed",
                **where,
                "error": state.last_error_code,
                "reason": state.last_error,
                "backoff_until": state.backoff_until.isoformat() if state.backoff_until else None,
            },
        )
    elif trigger.recovered:
        log_event("email_poll_recovered", **where)
    if poll is None:
        return
    if poll.uidvalidity_reset is not None:
        old, new = poll.uidvalidity_reset
        logger.warning(
            "email_uidvalidity_reset",
            extra={"event": "email_uidvalidity_reset", **where, "old": old, "new": new, "cursor": str(poll.cursor)},
        )
    for uid, why in poll.skipped:
        logger.warning(
            "email_message_skipped", extra={"event": "email_message_skipped", **where, "uid": uid, "reason": why}
        )
    for outcome in poll.fired:
        log_event(
            "trigger_fired",
            trigger_type="email",
            **where,
            execution_id=outcome.execution_id,
            status=outcome.status.value,
        )


def _report(report: PollReport) -> None:
    for trigger in report.triggers:
        _log(trigger)
    # The alarms watch these: a trigger whose polls fail, or that has not been polled successfully for 3 intervals.
    metrics.add_metric(name="EmailTriggersFailing", unit=MetricUnit.Count, value=report.count(Health.DEGRADED))
    metrics.add_metric(name="EmailTriggersStale", unit=MetricUnit.Count, value=report.count(Health.STALE))
    metrics.add_metric(name="EmailTriggersPolled", unit=MetricUnit.Count, value=report.polled)
    metrics.add_metric(name="EmailFirings", unit=MetricUnit.Count, value=report.fired)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = poller.run(seconds_left=lambda: context.get_remaining_time_in_millis() / 1000)
    _report(report)
    summary = report.as_dict()
    log_event("email_polled", scheduled_time=event.get("scheduled_time"), **summary)
    return summary
