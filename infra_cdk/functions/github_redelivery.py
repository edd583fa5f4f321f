"""The github redelivery sweep (issue 9): GitHub never retries a failed delivery, so every ``GITHUB_REDELIVERY_RATE``
an EventBridge Scheduler schedule runs the function, which asks GitHub to redeliver the failed deliveries the
service never recorded, and deletes delivery records past their retention.

The schedule lives in the account's default group, like reconcile's: the service's own group holds only the cron
triggers' schedules (reconcile deletes anything else in it).
"""

from __future__ import annotations

from aws_cdk import aws_iam, aws_lambda, aws_scheduler, aws_scheduler_targets
from constructs import Construct

from infra_cdk import nag
from infra_cdk.constants import (
    GITHUB_REDELIVERY_FUNCTION,
    GITHUB_REDELIVERY_FUNCTION_ID,
    GITHUB_REDELIVERY_MEMORY_MB,
    GITHUB_REDELIVERY_RATE,
    GITHUB_REDELIVERY_TIMEOUT,
    SERVICE_NAME,
)
from infra_cdk.functions.cron import scheduler_principal
from infra_cdk.shared.alarms import Alarms
from infra_cdk.shared.function import ServiceFunction
from infra_cdk.shared.github_app import GithubApp
from infra_cdk.shared.resources import SharedResources


class GithubRedelivery(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, shared: SharedResources, github_app: GithubApp) -> None:
        super().__init__(scope, construct_id)
        self.function: aws_lambda.Function = ServiceFunction(
            self,
            GITHUB_REDELIVERY_FUNCTION_ID,
            shared=shared,
            name=GITHUB_REDELIVERY_FUNCTION,
            description="Asks GitHub to redeliver the App's failed deliveries the service never recorded",
            memory_size=GITHUB_REDELIVERY_MEMORY_MB,
            timeout=GITHUB_REDELIVERY_TIMEOUT,
        ).function
        github_app.grant_api(self.function)
        # No retries of a failed run: the next run, minutes later, does the same work.
        self.function.configure_async_invoke(retry_attempts=0)

        default_group = aws_scheduler.ScheduleGroup.from_default_schedule_group(self, "DefaultGroup")
        self.schedule_role = aws_iam.Role(
            self,
            "ScheduleRole",
            description=f"{SERVICE_NAME}: assumed by EventBridge Scheduler for the GitHub redelivery sweep",
            assumed_by=scheduler_principal(self, default_group.schedule_group_arn),
        )
        self.schedule = aws_scheduler.Schedule(
            self,
            "Schedule",
            description=f"{SERVICE_NAME}: GitHub redelivery sweep",
            schedule=aws_scheduler.ScheduleExpression.rate(GITHUB_REDELIVERY_RATE),
            target=aws_scheduler_targets.LambdaInvoke(
                self.function,
                input=aws_scheduler.ScheduleTargetInput.from_object({}),
                role=self.schedule_role,
                retry_attempts=0,
            ),
        )
        nag.acknowledge(
            self.schedule_role,
            "LambdaInvoke grants invoke on the redelivery function and its qualified ARNs (versions and aliases, "
            "ARN:*); the role can still invoke only this one function",
            nag.invoke_grant_finding(self.function),
        )

    def add_alarms(self, alarms: Alarms) -> None:
        self.errors = alarms.add_errors(
            "GithubRedeliveryErrors",
            (
                "The GitHub redelivery sweep failed (it could not list the App's deliveries: the App's id or key, "
                "GitHub, or the database): failed deliveries are not asked for again. See the function's logs."
            ),
            self.function,
        )
