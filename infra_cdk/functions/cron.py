"""Cron triggers on EventBridge Scheduler (issue 4): the service's schedule group, the cron function its schedules
invoke, the role EventBridge Scheduler assumes to invoke it, and the dead-letter queue of firings that failed.

The api function creates, updates and deletes one schedule per translated expression in the group at deploy
(``workflow_scheduler.adapters.scheduler``) and the reconcile function repairs the group daily: ``grant_manage`` gives
either what that takes. Each schedule's target is the cron function, invoked asynchronously with ``RoleArn`` = the
scheduler role and ``DeadLetterConfig`` = the dead-letter queue.
"""

from __future__ import annotations

from typing import cast

from aws_cdk import (
    ArnFormat,
    RemovalPolicy,
    Stack,
    aws_iam,
    aws_lambda,
    aws_lambda_destinations,
    aws_scheduler,
    aws_sqs,
)
from constructs import Construct

from infra_cdk import nag
from infra_cdk.constants import (
    CRON_FUNCTION,
    CRON_FUNCTION_ID,
    CRON_MAX_EVENT_AGE,
    CRON_MEMORY_MB,
    CRON_RETRY_ATTEMPTS,
    CRON_TIMEOUT,
    ENV_CRON_FUNCTION_ARN,
    ENV_SCHEDULE_GROUP_NAME,
    ENV_SCHEDULER_ROLE_ARN,
    ENV_SCHEDULES_DLQ_ARN,
    SCHEDULE_GROUP_NAME,
    SCHEDULES_DLQ_RETENTION,
    SERVICE_NAME,
)
from infra_cdk.shared.function import ServiceFunction
from infra_cdk.shared.resources import SharedResources

SCHEDULER_SERVICE = "scheduler.amazonaws.com"
# The calls EventBridgeSchedules makes on the schedules of the group (ListSchedules apart: see grant_manage).
SCHEDULE_ACTIONS = [
    "scheduler:CreateSchedule",
    "scheduler:UpdateSchedule",
    "scheduler:DeleteSchedule",
    "scheduler:GetSchedule",
]
LIST_ACTIONS = ["scheduler:ListSchedules"]


def scheduler_principal(scope: Construct, group_arn: str) -> aws_iam.ServicePrincipal:
    """EventBridge Scheduler, acting for a schedule of ``group_arn`` in this account only (no confused deputy)."""
    return aws_iam.ServicePrincipal(
        SCHEDULER_SERVICE,
        conditions={"StringEquals": {"aws:SourceAccount": Stack.of(scope).account, "aws:SourceArn": group_arn}},
    )


def default_group_role(scope: Construct, function: aws_lambda.Function, what: str) -> aws_iam.Role:
    """The role EventBridge Scheduler assumes to invoke ``function`` (``what`` names it) for a schedule of the
    account's default group: never the cron triggers' group, where reconcile deletes what no trigger owns."""
    default_group = aws_scheduler.ScheduleGroup.from_default_schedule_group(scope, "DefaultGroup")
    role = aws_iam.Role(
        scope,
        "ScheduleRole",
        description=f"{SERVICE_NAME}: assumed by EventBridge Scheduler to invoke {what}",
        assumed_by=scheduler_principal(scope, default_group.schedule_group_arn),
    )
    nag.acknowledge(
        role,
        f"LambdaInvoke grants invoke on {what} and its qualified ARNs (versions and aliases, ARN:*); the role can "
        "still invoke only this one function",
        nag.invoke_grant_finding(function),
    )
    return role


class CronSchedules(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, shared: SharedResources) -> None:
        super().__init__(scope, construct_id)
        # Only the schedules of cron triggers live here: reconcile deletes any schedule of the group no trigger owns.
        # Deleting the group deletes its schedules: with the stack gone, nothing must keep firing at a function that
        # no longer exists; reconcile recreates every schedule from the trigger index into a new group.
        self.group = aws_scheduler.ScheduleGroup(
            self, "Group", schedule_group_name=SCHEDULE_GROUP_NAME, removal_policy=RemovalPolicy.DESTROY
        )
        self.dead_letters = self._dead_letter_queue()
        self.function = self._cron_function(shared)
        self.role = self._scheduler_role()
        self.schedules_arn = Stack.of(self).format_arn(
            service="scheduler",
            resource="schedule",
            resource_name=f"{self.group.schedule_group_name}/*",
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )
        self.manage_policy = self._manage_policy()

    def _dead_letter_queue(self) -> aws_sqs.Queue:
        """Firings that failed for good: invocations EventBridge Scheduler could not deliver after its retry policy
        (its dead-letter events name the schedule in their message attributes), and cron invocations that failed
        Lambda's retries or grew too old (Lambda's invocation record: the input under requestPayload).
        docs/deploy.md: inspect and replay."""
        dead_letters = aws_sqs.Queue(
            self,
            "DeadLetters",
            encryption=aws_sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=SCHEDULES_DLQ_RETENTION,
        )
        nag.acknowledge(
            dead_letters,
            "this queue is itself a dead-letter queue: the DeadLetterConfig of every cron schedule and the on-failure "
            "destination of the cron function; cdk-nag recognizes only SQS redrive policies as dead-letter use",
            "AwsSolutions-SQS3",
        )
        return dead_letters

    def _cron_function(self, shared: SharedResources) -> aws_lambda.Function:
        function = ServiceFunction(
            self,
            CRON_FUNCTION_ID,
            shared=shared,
            name=CRON_FUNCTION,
            description="Cron triggers: EventBridge Scheduler invokes it at each scheduled time; queues the firing",
            memory_size=CRON_MEMORY_MB,
            timeout=CRON_TIMEOUT,
        ).function
        shared.dispatch_queue.grant_send(function)
        # Lambda retries a failed asynchronous invocation itself (EventBridge Scheduler retries only a delivery that
        # Lambda refused). The retries are safe: the execution id comes from (trigger, scheduled time). What still
        # fails, or waited longer than the maximum age (throttling), lands in the dead-letter queue instead of
        # being dropped. The function's role gets sqs:SendMessage on it for that.
        function.configure_async_invoke(
            retry_attempts=CRON_RETRY_ATTEMPTS,
            max_event_age=CRON_MAX_EVENT_AGE,
            on_failure=aws_lambda_destinations.SqsDestination(self.dead_letters),
        )
        return function

    def _scheduler_role(self) -> aws_iam.Role:
        """The role every schedule of the group names as its target's RoleArn: invoke the cron function and write to
        the dead-letter queue (EventBridge Scheduler sends dead letters with the schedule's role), nothing else."""
        role = aws_iam.Role(
            self,
            "SchedulerRole",
            description=f"{SERVICE_NAME}: assumed by EventBridge Scheduler for the schedules of cron triggers",
            assumed_by=scheduler_principal(self, self.group.schedule_group_arn),
        )
        self.function.grant_invoke(role)
        self.dead_letters.grant_send_messages(role)
        nag.acknowledge(
            role,
            "grant_invoke covers the cron function and its qualified ARNs (versions and aliases, ARN:*); the role "
            "can still invoke only this one function",
            nag.invoke_grant_finding(self.function),
        )
        return role

    def _manage_policy(self) -> aws_iam.Policy:
        """The api and reconcile functions' access to the schedules (grant_manage).

        Written by hand: ScheduleGroup's grant_read_schedules scopes ListSchedules to the group's schedules, which IAM
        never matches (ListSchedules has no resource type: aws-cdk issue 38201), and PassRole needs its service
        condition. One policy, attached to both roles, keeps the service's whole access to EventBridge Scheduler in
        one place.
        """
        policy = aws_iam.Policy(
            self,
            "ManageSchedules",
            statements=[
                aws_iam.PolicyStatement(actions=SCHEDULE_ACTIONS, resources=[self.schedules_arn]),
                # Always called with GroupName (EventBridgeSchedules.list_names); IAM cannot restrict it further.
                aws_iam.PolicyStatement(actions=LIST_ACTIONS, resources=["*"]),
                # A schedule's target names the scheduler role; only EventBridge Scheduler may be handed it.
                aws_iam.PolicyStatement(
                    actions=["iam:PassRole"],
                    resources=[self.role.role_arn],
                    conditions={"StringEquals": {"iam:PassedToService": SCHEDULER_SERVICE}},
                ),
            ],
        )
        nag.acknowledge(
            policy,
            "schedule names are derived from workflow and trigger ids at deploy time; create, update, delete and get "
            f"are limited to the schedules of the service's own group {SCHEDULE_GROUP_NAME}",
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/"
            f"{SCHEDULE_GROUP_NAME}/*]",
        )
        nag.acknowledge(
            policy,
            "scheduler:ListSchedules supports no resource-level permissions (IAM requires Resource *); the service "
            "always lists with GroupName set to its own group, and the statement allows no other action",
            "AwsSolutions-IAM5[Resource::*]",
        )
        return policy

    def grant_manage(self, function: aws_lambda.Function) -> None:
        """What ``SchedulerSettings`` reads, and the access ``EventBridgeSchedules`` needs to the group's schedules."""
        # The group's Ref (its name): CloudFormation creates the group before a function that names it.
        group = cast(aws_scheduler.CfnScheduleGroup, self.group.node.default_child)
        function.add_environment(ENV_SCHEDULE_GROUP_NAME, group.ref)
        function.add_environment(ENV_CRON_FUNCTION_ARN, self.function.function_arn)
        function.add_environment(ENV_SCHEDULER_ROLE_ARN, self.role.role_arn)
        function.add_environment(ENV_SCHEDULES_DLQ_ARN, self.dead_letters.queue_arn)
        if function.role is None:
            raise ValueError(f"{function.node.path} has no execution role to grant the schedules to")
        self.manage_policy.attach_to_role(function.role)
