"""Reconcile (issue 4.6): the function that makes the schedule group match the trigger index, and its daily run.

The daily run is an EventBridge Scheduler schedule in the account's default group, on purpose: reconcile deletes every
schedule of the service's group that no trigger owns, so a schedule of its own in that group would be deleted as an
orphan by the first run. One reconcile runs at a time, under a lock in the state table.
"""

from __future__ import annotations

from aws_cdk import aws_lambda, aws_scheduler, aws_scheduler_targets
from constructs import Construct

from infra_cdk.constants import (
    ENV_LOCK_BACKEND,
    LOCK_BACKEND,
    RECONCILE_FUNCTION,
    RECONCILE_FUNCTION_ID,
    RECONCILE_INPUT,
    RECONCILE_MEMORY_MB,
    RECONCILE_RETRY_ATTEMPTS,
    RECONCILE_SCHEDULE_HOUR,
    RECONCILE_SCHEDULE_MINUTE,
    RECONCILE_TIMEOUT,
    SERVICE_NAME,
)
from infra_cdk.functions.cron import CronSchedules, default_group_role
from infra_cdk.shared.database import Database
from infra_cdk.shared.function import ServiceFunction
from infra_cdk.shared.layers import Layers
from infra_cdk.shared.state_table import StateTable


class Reconcile(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        layers: Layers,
        database: Database,
        state_table: StateTable,
        cron: CronSchedules,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function: aws_lambda.Function = ServiceFunction(
            self,
            RECONCILE_FUNCTION_ID,
            name=RECONCILE_FUNCTION,
            description="Makes the cron schedule group match the trigger index: deletes orphans, recreates, repairs",
            layers=layers,
            memory_size=RECONCILE_MEMORY_MB,
            timeout=RECONCILE_TIMEOUT,
            database=database,
            environment={ENV_LOCK_BACKEND: LOCK_BACKEND},
        ).function
        cron.grant_manage(self.function)
        state_table.grant_read_write(self.function)  # the reconcile lock (adapters/locks_dynamodb.py)
        # Lambda's retries of a failed run; a run that fails is reported by the ReconcileErrors alarm.
        self.function.configure_async_invoke(retry_attempts=RECONCILE_RETRY_ATTEMPTS)

        # Outside the service's group (see the module docstring): the default group, which every account has.
        self.schedule_role = default_group_role(self, self.function, "the reconcile function (daily)")
        self.schedule = aws_scheduler.Schedule(
            self,
            "DailySchedule",
            description=f"{SERVICE_NAME}: daily reconcile of the {cron.group.schedule_group_name} schedule group",
            schedule=aws_scheduler.ScheduleExpression.cron(
                minute=RECONCILE_SCHEDULE_MINUTE, hour=RECONCILE_SCHEDULE_HOUR
            ),
            # LambdaInvoke grants the role lambda:InvokeFunction on the function, and sqs:SendMessage on the
            # dead-letter queue that receives a run EventBridge Scheduler could not deliver.
            target=aws_scheduler_targets.LambdaInvoke(
                self.function,
                input=aws_scheduler.ScheduleTargetInput.from_object(RECONCILE_INPUT),
                role=self.schedule_role,
                dead_letter_queue=cron.dead_letters,
            ),
        )
