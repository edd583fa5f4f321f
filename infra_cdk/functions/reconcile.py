"""Reconcile (issues 4.6 and 11): the function that makes the schedule group match the trigger index, the state
machine that runs it in shards, its daily run and its alarm.

The state machine calls the function to plan a run (it takes the run's lock and stores the shards in PostgreSQL),
then works the shards in a Step Functions Distributed Map, up to ``RECONCILE_MAX_CONCURRENCY`` at once, each in a
child execution that invokes the function again while the shard answers ``"done": false`` (it stops before its
invocation's timeout; the next one goes on from its checkpoint) and retries a failed invocation with backoff; then
it calls the function to finish the run (the report, the lock released), also when a shard failed for good.

The daily run is an EventBridge Scheduler schedule in the account's default group, on purpose: reconcile deletes every
schedule of the service's group that no trigger owns, so a schedule of its own in that group would be deleted as an
orphan by the first run.
"""

from __future__ import annotations

from typing import cast

from aws_cdk import (
    RemovalPolicy,
    Stack,
    aws_cloudwatch,
    aws_iam,
    aws_lambda,
    aws_logs,
    aws_scheduler,
    aws_scheduler_targets,
    aws_stepfunctions,
    aws_stepfunctions_tasks,
)
from constructs import Construct

from infra_cdk import nag
from infra_cdk.constants import (
    ALARM_PERIOD,
    ENV_LOCK_BACKEND,
    ENV_RECONCILE_CALLS_PER_SECOND,
    ENV_RECONCILE_SHARD_SIZE,
    LOCK_BACKEND,
    LOG_RETENTION,
    RECONCILE_CALLS_PER_SECOND,
    RECONCILE_FUNCTION,
    RECONCILE_FUNCTION_ID,
    RECONCILE_INPUT,
    RECONCILE_MAX_CONCURRENCY,
    RECONCILE_MEMORY_MB,
    RECONCILE_RUN_TIMEOUT,
    RECONCILE_SCHEDULE_HOUR,
    RECONCILE_SCHEDULE_MINUTE,
    RECONCILE_SHARD_RETRY_ATTEMPTS,
    RECONCILE_SHARD_RETRY_BACKOFF,
    RECONCILE_SHARD_RETRY_INTERVAL,
    RECONCILE_SHARD_SIZE,
    RECONCILE_TIMEOUT,
    SERVICE_NAME,
)
from infra_cdk.functions.cron import CronSchedules, scheduler_principal
from infra_cdk.shared.alarms import Alarms
from infra_cdk.shared.function import ServiceFunction
from infra_cdk.shared.resources import SharedResources


class Reconcile(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, shared: SharedResources, cron: CronSchedules) -> None:
        super().__init__(scope, construct_id)
        self.function: aws_lambda.Function = ServiceFunction(
            self,
            RECONCILE_FUNCTION_ID,
            shared=shared,
            name=RECONCILE_FUNCTION,
            description="Makes the cron schedule group match the trigger index in shards: orphans, gaps and drift",
            memory_size=RECONCILE_MEMORY_MB,
            timeout=RECONCILE_TIMEOUT,
            environment={
                ENV_LOCK_BACKEND: LOCK_BACKEND,
                ENV_RECONCILE_SHARD_SIZE: str(RECONCILE_SHARD_SIZE),
                ENV_RECONCILE_CALLS_PER_SECOND: str(RECONCILE_CALLS_PER_SECOND),
            },
        ).function
        cron.grant_manage(self.function)
        shared.state_table.grant_read_write(
            self.function
        )  # the run's and the shards' locks (adapters/locks_dynamodb.py)
        self.state_machine = self._state_machine()

        # Outside the service's group (see the module docstring): the default group, which every account has.
        default_group = aws_scheduler.ScheduleGroup.from_default_schedule_group(self, "DefaultGroup")
        self.schedule_role = aws_iam.Role(
            self,
            "ScheduleRole",
            description=f"{SERVICE_NAME}: assumed by EventBridge Scheduler to start the daily reconcile run",
            assumed_by=scheduler_principal(self, default_group.schedule_group_arn),
        )
        self.schedule = aws_scheduler.Schedule(
            self,
            "DailySchedule",
            description=f"{SERVICE_NAME}: daily reconcile of the {cron.group.schedule_group_name} schedule group",
            schedule=aws_scheduler.ScheduleExpression.cron(
                minute=RECONCILE_SCHEDULE_MINUTE, hour=RECONCILE_SCHEDULE_HOUR
            ),
            # The target grants the role states:StartExecution on the state machine, and sqs:SendMessage on the
            # dead-letter queue that receives a run EventBridge Scheduler could not start.
            target=aws_scheduler_targets.StepFunctionsStartExecution(
                self.state_machine,
                input=aws_scheduler.ScheduleTargetInput.from_object(RECONCILE_INPUT),
                role=self.schedule_role,
                dead_letter_queue=cron.dead_letters,
            ),
        )

    def _invoke(self, construct_id: str, payload: dict[str, object]) -> aws_stepfunctions_tasks.LambdaInvoke:
        return aws_stepfunctions_tasks.LambdaInvoke(
            self,
            construct_id,
            lambda_function=self.function,
            payload=aws_stepfunctions.TaskInput.from_object(payload),
            payload_response_only=True,
        )

    def _state_machine(self) -> aws_stepfunctions.StateMachine:
        plan = self._invoke("Plan", {"action": "plan", "dry_run.$": "$.dry_run"})
        work = self._invoke("WorkShard", {"action": "shard", "run_id.$": "$.run_id", "shard.$": "$.shard"})
        # Any failure of an invocation (the function's error, a timeout, Lambda's own): the next attempt resumes.
        work.add_retry(
            errors=[aws_stepfunctions.Errors.ALL],
            interval=RECONCILE_SHARD_RETRY_INTERVAL,
            max_attempts=RECONCILE_SHARD_RETRY_ATTEMPTS,
            backoff_rate=RECONCILE_SHARD_RETRY_BACKOFF,
            jitter_strategy=aws_stepfunctions.JitterType.FULL,
        )
        shard_done = aws_stepfunctions.Choice(self, "ShardDone").when(
            aws_stepfunctions.Condition.boolean_equals("$.done", False), work
        )
        shard_done.otherwise(aws_stepfunctions.Succeed(self, "ShardReconciled"))
        shards = aws_stepfunctions.DistributedMap(
            self,
            "Shards",
            items_path="$.shards",
            item_selector={"run_id.$": "$.run_id", "shard.$": "$$.Map.Item.Value"},
            max_concurrency=RECONCILE_MAX_CONCURRENCY,
            # Standard child executions: a shard that takes several invocations may outlast Express's 5 minutes.
            map_execution_type=aws_stepfunctions.StateMachineType.STANDARD,
            result_path=aws_stepfunctions.JsonPath.DISCARD,
        )
        shards.item_processor(work.next(shard_done))
        finish = self._invoke("Finish", {"action": "finish", "run_id.$": "$.run_id"})
        finish_failed = self._invoke("FinishFailed", {"action": "finish", "run_id.$": "$.run_id", "failed": True})
        shards.add_catch(
            finish_failed.next(aws_stepfunctions.Fail(self, "RunFailed", cause="a shard failed every attempt")),
            result_path="$.error",
        )
        log_group = aws_logs.LogGroup(
            self, "StateMachineLogs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.RETAIN
        )
        state_machine = aws_stepfunctions.StateMachine(
            self,
            "StateMachine",
            comment=f"{SERVICE_NAME}: reconcile the cron schedule group in shards",
            definition_body=aws_stepfunctions.DefinitionBody.from_chainable(plan.next(shards).next(finish)),
            timeout=RECONCILE_RUN_TIMEOUT,
            tracing_enabled=True,
            logs=aws_stepfunctions.LogOptions(destination=log_group, level=aws_stepfunctions.LogLevel.ALL),
        )
        nag.acknowledge(
            state_machine,
            "LambdaInvoke grants invoke on the reconcile function and its qualified ARNs (versions and aliases, "
            "ARN:*); the state machine can still invoke only this one function",
            nag.invoke_grant_finding(self.function),
        )
        nag.acknowledge(
            state_machine,
            "X-Ray's trace-writing actions and CloudWatch Logs' log-delivery actions support no resource-level "
            "permissions",
            "AwsSolutions-IAM5[Resource::*]",
        )
        # The Distributed Map's child executions: their ARNs are the state machine's name plus ids made at run time.
        logical_id = Stack.of(self).get_logical_id(
            cast(aws_stepfunctions.CfnStateMachine, state_machine.node.default_child)
        )
        executions = (
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
            f'{{"Fn::Select":[6,{{"Fn::Split":[":",{{"Ref":"{logical_id}"}}]}}]}}'
        )
        nag.acknowledge(
            state_machine,
            "a Distributed Map describes and stops its own child executions, whose ids are made at run time; the "
            "statement names only the executions of this state machine",
            f"{executions}:*]",
            f"{executions}/*:*]",
        )
        return state_machine

    def add_alarms(self, alarms: Alarms) -> None:
        # A run that failed, timed out or was stopped: shards failed every attempt (see the state machine's
        # execution and the function's logs); the group may not match the index until the next run.
        metric = aws_cloudwatch.MathExpression(
            expression="failed + timedOut + aborted",
            using_metrics={
                "failed": self.state_machine.metric_failed(statistic=aws_cloudwatch.Stats.SUM),
                "timedOut": self.state_machine.metric_timed_out(statistic=aws_cloudwatch.Stats.SUM),
                "aborted": self.state_machine.metric_aborted(statistic=aws_cloudwatch.Stats.SUM),
            },
            period=ALARM_PERIOD,
        )
        self.errors = alarms.add(
            "ReconcileErrors",
            (
                "A reconcile run failed, timed out or was stopped (database, EventBridge Scheduler, a lock, or a "
                "shard failing every retry): the schedule group may not match the trigger index. See the state "
                "machine's execution and the reconcile function's logs; start a run again (docs/deploy.md)."
            ),
            metric,
        )
