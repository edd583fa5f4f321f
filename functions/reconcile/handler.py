"""The reconcile function: the steps of a run that makes the schedule group match the trigger index.

In AWS a Step Functions state machine (daily) calls it with ``{"action": "plan"}``, then with ``{"action":
"shard", ...}`` for each shard (many at once, each again until it answers ``"done": true``), then with
``{"action": "finish", ...}``. Without an action (``{"dry_run": ...}``, a direct invocation or the local system)
it runs a whole run here, shard after shard.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from workflow_scheduler.domain.triggers.cron.reconcile import Counter, ReconcileReport
from workflow_scheduler.observability import log_event, logger, metrics, tracer
from workflow_scheduler.settings import ReconcileSettings
from workflow_scheduler.wiring import reconciler

reconcile = reconciler(ReconcileSettings.from_environment())
# A shard stops starting pages this long before the invocation's end, and the next invocation goes on from there.
STOP_BEFORE_END_SECONDS = 90
METRICS = {
    Counter.CREATED: "SchedulesCreated",
    Counter.DELETED: "SchedulesDeleted",
    Counter.REPAIRED: "SchedulesRepaired",
    Counter.DEFERRED: "SchedulesDeferred",
}


def _deadline(context: LambdaContext) -> float:
    remaining = context.get_remaining_time_in_millis() / 1000
    return time.monotonic() + max(remaining - STOP_BEFORE_END_SECONDS, remaining / 2)


def _reported(report: ReconcileReport) -> dict[str, Any]:
    for counter, name in METRICS.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=report.count(counter))
    # Nested: its keys ("created" among them) would clash with the attributes of a log record.
    log_event("schedules_reconciled", status="dry_run" if report.dry_run else report.status, report=report.as_dict())
    return report.as_dict()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    action = event.get("action")
    if action == "plan":
        return reconcile.plan(dry_run=bool(event.get("dry_run", False))).as_dict()
    if action == "shard":
        run_id, shard = str(event["run_id"]), int(event["shard"])
        done = reconcile.work(run_id, shard, deadline=_deadline(context))
        return {"run_id": run_id, "shard": shard, "done": done}
    if action == "finish":
        return _reported(reconcile.finish(str(event["run_id"]), failed=bool(event.get("failed", False))))
    if action is not None:
        raise ValueError(f"unknown action {action!r}: plan, shard or finish")
    return _reported(reconcile.run(dry_run=bool(event.get("dry_run", False))))
