"""The firing history's retention (issue 11): the function that keeps ``trigger_events`` to its retention period, and
its daily run.

The run creates the history's month partitions ahead of the firings, then drops the months wholly past the
retention and expires the claims of older execution ids (workflow_scheduler.domain.retention). It is started by an
EventBridge rule, not a Scheduler schedule: nothing about it belongs in the cron triggers' schedule group, and the
rule needs no role of its own. A run failing after Lambda's retries raises the RetentionErrors alarm (add_alarms).
"""

from __future__ import annotations

from aws_cdk import aws_events, aws_events_targets, aws_lambda
from constructs import Construct

from infra_cdk.constants import (
    ENV_FIRING_RETENTION_DAYS,
    RETENTION_FUNCTION,
    RETENTION_FUNCTION_ID,
    RETENTION_INPUT,
    RETENTION_MAX_EVENT_AGE,
    RETENTION_MEMORY_MB,
    RETENTION_RETRY_ATTEMPTS,
    RETENTION_SCHEDULE_HOUR,
    RETENTION_SCHEDULE_MINUTE,
    RETENTION_TIMEOUT,
    SERVICE_NAME,
)
from infra_cdk.shared.alarms import Alarms
from infra_cdk.shared.function import ServiceFunction
from infra_cdk.shared.resources import SharedResources


class Retention(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, shared: SharedResources, retention_days: int) -> None:
        super().__init__(scope, construct_id)
        self.function: aws_lambda.Function = ServiceFunction(
            self,
            RETENTION_FUNCTION_ID,
            shared=shared,
            name=RETENTION_FUNCTION,
            description="Keeps the firing history to its retention: creates the months ahead, drops the months past it",
            memory_size=RETENTION_MEMORY_MB,
            timeout=RETENTION_TIMEOUT,
            environment={ENV_FIRING_RETENTION_DAYS: str(retention_days)},
        ).function
        # Idempotent (one run at a time under a PostgreSQL advisory lock): a failed run is simply run again.
        self.function.configure_async_invoke(retry_attempts=RETENTION_RETRY_ATTEMPTS)
        self.rule = aws_events.Rule(
            self,
            "DailyRule",
            description=f"{SERVICE_NAME}: daily retention run of the firing history",
            schedule=aws_events.Schedule.cron(minute=RETENTION_SCHEDULE_MINUTE, hour=RETENTION_SCHEDULE_HOUR),
            targets=[
                aws_events_targets.LambdaFunction(
                    self.function,
                    event=aws_events.RuleTargetInput.from_object(RETENTION_INPUT),
                    retry_attempts=RETENTION_RETRY_ATTEMPTS,
                    max_event_age=RETENTION_MAX_EVENT_AGE,
                )
            ],
        )

    def add_alarms(self, alarms: Alarms) -> None:
        # Months ahead exist two months early, and firings of a month without one are kept in the catch-all
        # partition: a failed run loses nothing, but the history stops shrinking until one succeeds.
        self.errors = alarms.add_errors(
            "RetentionErrors",
            (
                "The retention function failed (database, a lock held too long, or a timeout): the firing history "
                "is not being trimmed and the months ahead not created. See the function's logs; run it again by "
                "hand (docs/deploy.md)."
            ),
            self.function,
        )
