"""Cron triggers in the template: the schedule group, the cron function, the scheduler role, the schedules' dead-letter
queue, the api and reconcile functions' access to the schedules, and the daily reconcile schedule."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from infra_cdk import constants
from tests.infra.conftest import (
    COMMON_ENV,
    DB_ENV,
    SCHEDULER_ENV,
    Synthesized,
    actions,
    code_of,
    only,
    role_policy_statements,
    role_statements,
)
from workflow_scheduler.adapters.scheduler import EventBridgeSchedules, SchedulerTarget
from workflow_scheduler.domain.triggers.cron.evaluate import next_fire_times
from workflow_scheduler.domain.triggers.cron.reconcile import RUN_LEASE_SECONDS
from workflow_scheduler.domain.triggers.cron.schedules import ScheduleSpec

SCHEDULER = {"Service": "scheduler.amazonaws.com"}


def arn(synthesized: Synthesized, construct: Any) -> dict[str, Any]:
    return {"Fn::GetAtt": [synthesized.logical_id(construct), "Arn"]}


def trust_statement(synthesized: Synthesized, role: Any) -> dict[str, Any]:
    (statement,) = synthesized.properties(role)["AssumeRolePolicyDocument"]["Statement"]
    return dict(statement)


def scheduler_statements(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in statements if any(a.startswith("scheduler:") or a == "iam:PassRole" for a in actions(s))]


class RecordingClient:
    """A Scheduler client that records the API operations EventBridgeSchedules calls."""

    def __init__(self) -> None:
        self.operations: set[str] = set()

    def __getattr__(self, method: str) -> Any:
        def call(**kwargs: Any) -> dict[str, Any]:
            self.operations.add("".join(part.title() for part in method.split("_")))
            return {}

        return call


def adapter_operations() -> set[str]:
    """``scheduler:<Operation>`` for every call the adapter makes (create, update, delete, get, list)."""
    client = RecordingClient()
    target = SchedulerTarget(group_name="g", function_arn="f", role_arn="r", dead_letter_arn="d")
    schedules = EventBridgeSchedules(target, client=client)
    spec = ScheduleSpec("n", "cron(0 9 * * ? *)", "UTC", True, "wf", "t", 1)
    schedules.create(spec)
    schedules.update(spec)
    schedules.read(spec)
    schedules.exists("n")
    schedules.delete("n")
    schedules.list_page("n", None)
    return {f"scheduler:{operation}" for operation in client.operations}


def test_schedule_group(synthesized: Synthesized) -> None:
    _, group = only(synthesized.resources("AWS::Scheduler::ScheduleGroup"))
    assert group["Properties"]["Name"] == constants.SCHEDULE_GROUP_NAME
    # Removing the stack deletes the group and its schedules: nothing keeps firing at a function that is gone.
    assert group["DeletionPolicy"] == "Delete"


def test_cron_function(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    props = synthesized.properties(stack.cron.function)
    assert (props["Handler"], props["Runtime"]) == ("handler.lambda_handler", "python3.12")
    assert code_of(synthesized, props) == (constants.FUNCTIONS_DIR / "cron" / "handler.py").read_text()
    assert {layer["Ref"] for layer in props["Layers"]} == {
        synthesized.logical_id(stack.shared.layers.shared),
        synthesized.logical_id(stack.shared.layers.dependencies),
    }
    assert props["Timeout"] == constants.CRON_TIMEOUT.to_seconds()
    env = props["Environment"]["Variables"]
    assert set(env) == COMMON_ENV | DB_ENV | {constants.ENV_DISPATCH_QUEUE_URL}
    assert env[constants.ENV_DISPATCH_QUEUE_URL] == {"Ref": synthesized.logical_id(stack.shared.dispatch_queue.queue)}
    assert props["VpcConfig"]["SecurityGroupIds"] == [
        {"Fn::GetAtt": [synthesized.logical_id(stack.shared.database.client_security_group), "GroupId"]}
    ]
    # It queues firings: send on the dispatch queue (and on its own dead-letter queue, as Lambda's destination).
    statements = role_statements(synthesized, stack.cron.function)
    (sqs,) = [s for s in statements if any(a.startswith("sqs:") for a in actions(s))]
    assert actions(sqs) == {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}
    queues = [stack.cron.dead_letters, stack.shared.dispatch_queue.queue]
    assert sorted(map(json.dumps, sqs["Resource"])) == sorted(json.dumps(arn(synthesized, q)) for q in queues)


def test_cron_function_has_no_route_and_no_resource_policy(synthesized: Synthesized) -> None:
    """Only EventBridge Scheduler invokes it, through the scheduler role: no API method, no Lambda permission."""
    cron = synthesized.logical_id(synthesized.stack.cron.function)
    for method in synthesized.resources("AWS::ApiGateway::Method").values():
        assert cron not in json.dumps(method["Properties"]["Integration"])
    for permission in synthesized.resources("AWS::Lambda::Permission").values():
        assert cron not in json.dumps(permission["Properties"]["FunctionName"])


def test_cron_asynchronous_invocations_retry_then_go_to_the_dead_letter_queue(synthesized: Synthesized) -> None:
    cron = synthesized.stack.cron
    (config,) = [
        r["Properties"]
        for r in synthesized.resources("AWS::Lambda::EventInvokeConfig").values()
        if r["Properties"]["FunctionName"] == {"Ref": synthesized.logical_id(cron.function)}
    ]
    assert config["Qualifier"] == "$LATEST"  # the schedules target the unqualified function
    assert config["MaximumRetryAttempts"] == constants.CRON_RETRY_ATTEMPTS == 2
    # As long as the schedules themselves keep retrying a delivery (the adapter's retry policy).
    default_target = SchedulerTarget(group_name="g", function_arn="f", role_arn="r")
    assert config["MaximumEventAgeInSeconds"] == default_target.maximum_event_age_seconds == 3600
    assert config["DestinationConfig"] == {"OnFailure": {"Destination": arn(synthesized, cron.dead_letters)}}


def test_schedules_dead_letter_queue(synthesized: Synthesized) -> None:
    dead_letters = synthesized.stack.cron.dead_letters
    props = synthesized.properties(dead_letters)
    assert props["SqsManagedSseEnabled"] is True
    assert props["MessageRetentionPeriod"] == 14 * 86400
    (policy,) = [
        p["Properties"]
        for p in synthesized.resources("AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": synthesized.logical_id(dead_letters)}]
    ]
    (deny,) = policy["PolicyDocument"]["Statement"]
    assert (deny["Effect"], deny["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})


def test_scheduler_role_is_for_schedules_of_the_group_in_this_account(synthesized: Synthesized) -> None:
    cron = synthesized.stack.cron
    trust = trust_statement(synthesized, cron.role)
    assert (trust["Effect"], trust["Action"], trust["Principal"]) == ("Allow", "sts:AssumeRole", SCHEDULER)
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}, "aws:SourceArn": arn(synthesized, cron.group)}
    }


def test_scheduler_role_may_invoke_only_the_cron_function_and_send_only_to_the_dead_letter_queue(
    synthesized: Synthesized,
) -> None:
    cron = synthesized.stack.cron
    role = synthesized.logical_id(cron.role)
    assert "ManagedPolicyArns" not in synthesized.properties(cron.role)
    invoke, send = role_policy_statements(synthesized, role)
    function = arn(synthesized, cron.function)
    assert actions(invoke) == {"lambda:InvokeFunction"}
    assert invoke["Resource"] == [function, {"Fn::Join": ["", [function, ":*"]]}]  # grant_invoke: the function
    assert actions(send) == {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}
    assert send["Resource"] == arn(synthesized, cron.dead_letters)


def test_api_and_reconcile_manage_only_the_schedules_of_the_group(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    for function in (stack.api.function, stack.reconcile.function):
        manage, list_, pass_role = scheduler_statements(role_statements(synthesized, function))
        # Every call the adapter makes, on the group's schedules only.
        assert actions(manage) | actions(list_) == adapter_operations()
        assert actions(manage) == {
            "scheduler:CreateSchedule",
            "scheduler:UpdateSchedule",
            "scheduler:DeleteSchedule",
            "scheduler:GetSchedule",
        }
        assert json.dumps(manage["Resource"]).endswith(f':schedule/{constants.SCHEDULE_GROUP_NAME}/*"]]}}')
        # ListSchedules has no resource type: IAM needs "*" (the adapter always passes GroupName).
        assert (actions(list_), list_["Resource"]) == ({"scheduler:ListSchedules"}, "*")
        # The scheduler role, handed to EventBridge Scheduler only.
        assert actions(pass_role) == {"iam:PassRole"}
        assert pass_role["Resource"] == arn(synthesized, stack.cron.role)
        assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
    # Nobody else touches schedules or passes roles.
    for function in (stack.webhooks.function, stack.dispatch.function, stack.migrations.function, stack.cron.function):
        assert not scheduler_statements(role_statements(synthesized, function))


def test_api_and_reconcile_get_the_scheduler_settings(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    for function in (stack.api.function, stack.reconcile.function):
        env = synthesized.properties(function)["Environment"]["Variables"]
        assert set(env) >= SCHEDULER_ENV
        assert env[constants.ENV_SCHEDULE_GROUP_NAME] == {"Ref": synthesized.logical_id(stack.cron.group)}
        assert env[constants.ENV_CRON_FUNCTION_ARN] == arn(synthesized, stack.cron.function)
        assert env[constants.ENV_SCHEDULER_ROLE_ARN] == arn(synthesized, stack.cron.role)
        assert env[constants.ENV_SCHEDULES_DLQ_ARN] == arn(synthesized, stack.cron.dead_letters)


def test_reconcile_function(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    props = synthesized.properties(stack.reconcile.function)
    assert (props["Handler"], props["Runtime"]) == ("handler.lambda_handler", "python3.12")
    assert code_of(synthesized, props) == (constants.FUNCTIONS_DIR / "reconcile" / "handler.py").read_text()
    env = props["Environment"]["Variables"]
    assert set(env) == COMMON_ENV | DB_ENV | SCHEDULER_ENV | {
        constants.ENV_STATE_TABLE_NAME,
        constants.ENV_LOCK_BACKEND,
        constants.ENV_RECONCILE_SHARD_SIZE,
        constants.ENV_RECONCILE_CALLS_PER_SECOND,
    }
    assert env[constants.ENV_LOCK_BACKEND] == "dynamodb"
    assert (env[constants.ENV_RECONCILE_SHARD_SIZE], env[constants.ENV_RECONCILE_CALLS_PER_SECOND]) == ("5000", "50")
    assert env[constants.ENV_STATE_TABLE_NAME] == {"Ref": synthesized.logical_id(stack.shared.state_table.table)}
    (locks,) = [
        s for s in role_statements(synthesized, stack.reconcile.function) if "dynamodb:UpdateItem" in actions(s)
    ]
    assert locks["Resource"] == arn(synthesized, stack.shared.state_table.table)
    assert props["Timeout"] == 900
    assert props["VpcConfig"]["SecurityGroupIds"] == [
        {"Fn::GetAtt": [synthesized.logical_id(stack.shared.database.client_security_group), "GroupId"]}
    ]


def test_daily_reconcile_schedule_lives_outside_the_service_group(synthesized: Synthesized) -> None:
    reconcile = synthesized.stack.reconcile
    props = synthesized.properties(reconcile.schedule)
    # In the default group: reconcile deletes any schedule of the service's group that no trigger owns.
    assert props.get("GroupName", "default") == "default" != constants.SCHEDULE_GROUP_NAME
    assert props["ScheduleExpression"] == "cron(17 3 * * ? *)"
    assert props["ScheduleExpressionTimezone"] == "Etc/UTC"
    assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert props["State"] == "ENABLED"
    runs = next_fire_times([props["ScheduleExpression"]], "UTC", datetime(2026, 3, 1, tzinfo=UTC), 2)
    assert [run.isoformat() for run in runs] == ["2026-03-01T03:17:00+00:00", "2026-03-02T03:17:00+00:00"]
    target = props["Target"]
    assert target["Arn"] == {"Ref": synthesized.logical_id(reconcile.state_machine)}
    assert json.loads(target["Input"]) == {"dry_run": False}
    assert target["DeadLetterConfig"] == {"Arn": arn(synthesized, synthesized.stack.cron.dead_letters)}
    assert target["RoleArn"] == arn(synthesized, reconcile.schedule_role)


def test_reconcile_schedule_role_may_only_start_the_run(synthesized: Synthesized) -> None:
    reconcile = synthesized.stack.reconcile
    trust = trust_statement(synthesized, reconcile.schedule_role)
    assert (trust["Action"], trust["Principal"]) == ("sts:AssumeRole", SCHEDULER)
    source = trust["Condition"]["StringEquals"]
    assert source["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert json.dumps(source["aws:SourceArn"]).endswith(':schedule-group/default"]]}')
    start, send = role_policy_statements(synthesized, synthesized.logical_id(reconcile.schedule_role))
    assert (actions(start), start["Resource"]) == (
        {"states:StartExecution"},
        {"Ref": synthesized.logical_id(reconcile.state_machine)},
    )
    assert (actions(send), send["Resource"]) == (
        {"sqs:SendMessage"},
        arn(synthesized, synthesized.stack.cron.dead_letters),
    )


def definition_of(synthesized: Synthesized) -> dict[str, Any]:
    """The reconcile state machine's definition, its Fn::Join parts that are references filled with markers."""
    props = synthesized.properties(synthesized.stack.reconcile.state_machine)
    parts = props["DefinitionString"]["Fn::Join"][1]
    return dict(
        json.loads("".join(part if isinstance(part, str) else '"REF"' for part in parts).replace('""REF""', '"REF"'))
    )


def test_the_state_machine_plans_works_every_shard_until_done_and_finishes(synthesized: Synthesized) -> None:
    states = definition_of(synthesized)["States"]
    assert definition_of(synthesized)["StartAt"] == "Plan"
    assert states["Plan"]["Parameters"] == {"action": "plan", "dry_run.$": "$.dry_run"}
    assert (states["Plan"]["Next"], states["Shards"]["Next"]) == ("Shards", "Finish")
    shards = states["Shards"]
    assert shards["ItemsPath"] == "$.shards" and shards["MaxConcurrency"] == constants.RECONCILE_MAX_CONCURRENCY
    assert shards["ItemSelector"] == {"run_id.$": "$.run_id", "shard.$": "$$.Map.Item.Value"}
    assert shards["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert shards["ResultPath"] is None  # the plan (its run id) passes on to Finish
    inner = shards["ItemProcessor"]["States"]
    work = inner["WorkShard"]
    assert work["Parameters"] == {"action": "shard", "run_id.$": "$.run_id", "shard.$": "$.shard"}
    retry = work["Retry"][-1]  # after Lambda's own service errors, which every Lambda task retries
    assert retry["ErrorEquals"] == ["States.ALL"] and retry["MaxAttempts"] == constants.RECONCILE_SHARD_RETRY_ATTEMPTS
    (again,) = inner["ShardDone"]["Choices"]
    assert again == {"Variable": "$.done", "BooleanEquals": False, "Next": "WorkShard"}
    (catch,) = shards["Catch"]
    assert catch["Next"] == "FinishFailed" and states["FinishFailed"]["Next"] == "RunFailed"
    assert states["FinishFailed"]["Parameters"]["failed"] is True
    assert states["Finish"]["Parameters"] == {"action": "finish", "run_id.$": "$.run_id"}


def test_the_run_frees_its_lock_before_the_next_days_run(synthesized: Synthesized) -> None:
    props = synthesized.properties(synthesized.stack.reconcile.state_machine)
    timeout = definition_of(synthesized)["TimeoutSeconds"]
    # A run that dies without finishing holds the run's lock until its lease ends: before the next daily run.
    assert timeout == constants.RECONCILE_RUN_TIMEOUT.to_seconds() < RUN_LEASE_SECONDS < 24 * 3600
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    # Concurrency times each shard's rate stays under the lowest default quota of the primary Regions.
    assert constants.RECONCILE_MAX_CONCURRENCY * constants.RECONCILE_CALLS_PER_SECOND <= 1000 / 2


def test_only_the_scheduled_functions_have_an_asynchronous_invocation_config(synthesized: Synthesized) -> None:
    configs = {
        r["Properties"]["FunctionName"]["Ref"] for r in synthesized.resources("AWS::Lambda::EventInvokeConfig").values()
    }
    stack = synthesized.stack
    scheduled = (
        stack.cron.function,
        stack.github_redelivery.function,
        stack.email_poller.function,
        stack.retention.function,
    )
    assert configs == {synthesized.logical_id(function) for function in scheduled}


def test_alarm_on_failed_cron_firings(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    props = synthesized.properties(stack.alarms.failed_cron_firings)
    assert (props["Namespace"], props["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert props["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [synthesized.logical_id(stack.cron.dead_letters), "QueueName"]}}
    ]
    assert (props["ComparisonOperator"], props["Threshold"], props["Statistic"]) == (
        "GreaterThanOrEqualToThreshold",
        1,
        "Maximum",
    )
    assert props["TreatMissingData"] == "notBreaching"
    topic = {"Ref": synthesized.logical_id(stack.alarms.topic)}
    assert props["AlarmActions"] == props["OKActions"] == [topic]


def test_alarm_on_reconcile_errors(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    props = synthesized.properties(stack.reconcile.errors)
    (expression,) = [m for m in props["Metrics"] if "Expression" in m]
    assert expression["Expression"] == "failed + timedOut + aborted"
    names = {m["MetricStat"]["Metric"]["MetricName"] for m in props["Metrics"] if "MetricStat" in m}
    assert names == {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"}
    for metric in (m for m in props["Metrics"] if "MetricStat" in m):
        assert metric["MetricStat"]["Metric"]["Dimensions"] == [
            {"Name": "StateMachineArn", "Value": {"Ref": synthesized.logical_id(stack.reconcile.state_machine)}}
        ]
    assert props["AlarmActions"] == props["OKActions"] == [{"Ref": synthesized.logical_id(stack.alarms.topic)}]
