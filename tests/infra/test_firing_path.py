"""The firing path in the template: webhook function and route, dispatch function and its queue, alarms, secrets."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

from infra_cdk import constants
from infra_cdk.functions.dispatch import ENGINE_CALL_MARGIN
from tests.infra.conftest import (
    COMMON_ENV,
    DB_ENV,
    Synthesized,
    actions,
    code_of,
    event_source_of,
    only,
    role_statements,
    service_functions,
)
from workflow_scheduler.domain.inline_secrets import (
    LEGACY_PREFIX,
    MANAGED_BY_TAG,
    MANAGED_PREFIX,
    OWNER_TAG,
    TRIGGER_TAG,
    WORKFLOW_TAG,
)
from workflow_scheduler.local.routes import Route, active_routes, find
from workflow_scheduler.settings import (
    ApiSettings,
    CronSettings,
    DispatchSettings,
    GithubRedeliverySettings,
    GithubRouterSettings,
    GithubWebhookSettings,
    MigrateSettings,
    ReconcileSettings,
    SchedulerSettings,
    WebhookSettings,
    environment_variables,
)

DISPATCH_ENV = {
    constants.ENV_STATE_TABLE_NAME,
    constants.ENV_WORKFLOW_ENGINE_URL,
    constants.ENV_ENGINE_CONNECT_TIMEOUT,
    constants.ENV_ENGINE_READ_TIMEOUT,
    constants.ENV_DISPATCH_MAX_ATTEMPTS,
    constants.ENV_DISPATCH_BACKOFF_BASE,
    constants.ENV_DISPATCH_BACKOFF_MAX,
    constants.ENV_TESTING_MODE,
}

# Set by the stack ahead of the code: the api function's table is for locks (adapters/locks_dynamodb.py), which
# ApiSettings does not compose yet.
NOT_READ_YET = {constants.API_FUNCTION_ID: {constants.ENV_STATE_TABLE_NAME}}


def test_webhook_function(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    props = synthesized.properties(stack.webhooks.function)
    assert props["Handler"] == "handler.lambda_handler"
    assert props["Runtime"] == "python3.12"
    assert (props["MemorySize"], props["Timeout"]) == (512, 29)
    assert code_of(synthesized, props) == (constants.FUNCTIONS_DIR / "webhook" / "handler.py").read_text()
    env = props["Environment"]["Variables"]
    # WEBHOOK_MAX_BODY_BYTES only when the webhookMaxBodyBytes option is set (test_options.py).
    assert set(env) == COMMON_ENV | DB_ENV | {constants.ENV_DISPATCH_QUEUE_URL}
    assert env[constants.ENV_DISPATCH_QUEUE_URL] == {"Ref": synthesized.logical_id(stack.shared.dispatch_queue.queue)}
    assert props["VpcConfig"]["SecurityGroupIds"] == [
        {"Fn::GetAtt": [synthesized.logical_id(stack.shared.database.client_security_group), "GroupId"]}
    ]


def test_dispatch_function(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    props = synthesized.properties(stack.dispatch.function)
    assert (props["Handler"], props["Runtime"]) == ("handler.lambda_handler", "python3.12")
    assert code_of(synthesized, props) == (constants.FUNCTIONS_DIR / "dispatch" / "handler.py").read_text()
    assert props["Timeout"] == constants.DISPATCH_TIMEOUT.to_seconds() == 60
    assert "ReservedConcurrentExecutions" not in props  # the event source mapping caps concurrency instead
    env = props["Environment"]["Variables"]
    assert set(env) == COMMON_ENV | DB_ENV | DISPATCH_ENV  # no e-mail settings outside testing mode
    assert env[constants.ENV_STATE_TABLE_NAME] == {"Ref": synthesized.logical_id(stack.shared.state_table.table)}
    assert env[constants.ENV_WORKFLOW_ENGINE_URL] == constants.DEFAULT_WORKFLOW_ENGINE_URL
    assert env[constants.ENV_TESTING_MODE] == "false"
    assert float(env[constants.ENV_ENGINE_READ_TIMEOUT]) == 25
    assert float(env[constants.ENV_ENGINE_CONNECT_TIMEOUT]) == 3.05
    assert (float(env[constants.ENV_DISPATCH_BACKOFF_BASE]), float(env[constants.ENV_DISPATCH_BACKOFF_MAX])) == (
        30,
        900,
    )
    assert props["VpcConfig"]["SecurityGroupIds"] == [
        {"Fn::GetAtt": [synthesized.logical_id(stack.shared.database.client_security_group), "GroupId"]}
    ]


@pytest.mark.parametrize(
    ("function_id", "settings_class"),
    [
        (constants.API_FUNCTION_ID, ApiSettings),
        (constants.WEBHOOK_FUNCTION_ID, WebhookSettings),
        (constants.DISPATCH_FUNCTION_ID, DispatchSettings),
        (constants.MIGRATE_FUNCTION_ID, MigrateSettings),
        (constants.CRON_FUNCTION_ID, CronSettings),
        (constants.RECONCILE_FUNCTION_ID, ReconcileSettings),
        (constants.GITHUB_FUNCTION_ID, GithubWebhookSettings),
        (constants.GITHUB_ROUTER_FUNCTION_ID, GithubRouterSettings),
        (constants.GITHUB_REDELIVERY_FUNCTION_ID, GithubRedeliverySettings),
    ],
)
def test_each_function_gets_the_settings_it_reads(
    synthesized: Synthesized, function_id: str, settings_class: type[BaseModel]
) -> None:
    """Every variable the stack sets is a field of the function's settings (they ignore unknown ones, so a typo
    would be silent), and the settings accept the values (references stand for strings)."""
    (resource,) = [r for lid, r in service_functions(synthesized).items() if function_id in lid]
    env: dict[str, Any] = resource["Properties"]["Environment"]["Variables"]
    fields = set(environment_variables(settings_class).values())
    assert set(env) - COMMON_ENV - NOT_READ_YET.get(function_id, set()) <= fields
    # As the environment gives them: strings, each reference standing for the string it resolves to.
    values = {name.lower(): value if isinstance(value, str) else f"<{name}>" for name, value in env.items()}
    settings = settings_class.model_validate({k: v for k, v in values.items() if k.upper() in fields})
    # Without the scheduler settings the api function refuses cron triggers, and reconcile does not start.
    if isinstance(settings, SchedulerSettings):
        assert settings.scheduler_configured
        assert settings.schedules_dlq_arn


def test_dispatch_event_source_reports_partial_batch_failures(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    props = event_source_of(synthesized, stack.dispatch.function)
    assert props["EventSourceArn"] == {"Fn::GetAtt": [synthesized.logical_id(stack.shared.dispatch_queue.queue), "Arn"]}
    assert props["FunctionName"] == {"Ref": synthesized.logical_id(stack.dispatch.function)}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BatchSize"] == 10
    assert 0 < props["MaximumBatchingWindowInSeconds"] <= 5
    assert props["ScalingConfig"] == {"MaximumConcurrency": constants.DEFAULT_DISPATCH_MAX_CONCURRENCY}


def test_the_last_attempt_is_the_one_before_the_dead_letter_queue(synthesized: Synthesized) -> None:
    queue = synthesized.properties(synthesized.stack.shared.dispatch_queue.queue)
    env = synthesized.properties(synthesized.stack.dispatch.function)["Environment"]["Variables"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == int(env[constants.ENV_DISPATCH_MAX_ATTEMPTS])


def test_the_local_queue_parks_after_as_many_receives() -> None:
    """The local system's twin of the queue (workflow-scheduler dev) keeps the same redrive policy."""
    from workflow_scheduler.local.aws_resources import DISPATCH_MAX_RECEIVES

    assert DISPATCH_MAX_RECEIVES == constants.DISPATCH_MAX_RECEIVES


def test_timeouts_fit_together(synthesized: Synthesized) -> None:
    queue = synthesized.properties(synthesized.stack.shared.dispatch_queue.queue)
    function = synthesized.properties(synthesized.stack.dispatch.function)
    env = function["Environment"]["Variables"]
    engine_call = float(env[constants.ENV_ENGINE_CONNECT_TIMEOUT]) + float(env[constants.ENV_ENGINE_READ_TIMEOUT])
    # A hung engine holds a record about 30 s at most, and the invocation outlives that call with room to record it.
    assert engine_call <= 30
    assert engine_call + ENGINE_CALL_MARGIN.to_seconds() <= function["Timeout"]
    # Lambda requires visibility timeout >= function timeout; AWS recommends six times.
    assert queue["VisibilityTimeout"] == 6 * function["Timeout"]
    assert float(env[constants.ENV_DISPATCH_BACKOFF_MAX]) <= 12 * 3600  # SQS's longest visibility timeout
    # A parked firing keeps its original enqueue time: the dead-letter queue keeps it longer than the queue would.
    dead_letters = synthesized.properties(synthesized.stack.shared.dispatch_queue.dead_letters)
    assert dead_letters["MessageRetentionPeriod"] > queue.get("MessageRetentionPeriod", 4 * 86400)


def test_dispatch_consumes_and_delays_but_does_not_send(synthesized: Synthesized) -> None:
    queue_arn = {"Fn::GetAtt": [synthesized.logical_id(synthesized.stack.shared.dispatch_queue.queue), "Arn"]}
    statements = role_statements(synthesized, synthesized.stack.dispatch.function)
    sqs = [s for s in statements if any(a.startswith("sqs:") for a in actions(s))]
    assert len(sqs) == 1
    assert sqs[0]["Resource"] == queue_arn
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"} <= actions(sqs[0])
    assert "sqs:SendMessage" not in actions(sqs[0])
    assert not [s for s in statements if any(a.startswith("ses:") for a in actions(s))]  # not in testing mode


def test_webhook_secrets_are_reachable_only_under_the_managed_prefixes_and_tagged(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    managed = stack.resolve(stack.shared.managed_secrets.managed_arns)
    (created,) = stack.resolve(stack.shared.managed_secrets.created_arns)
    # The domain's names of the secrets it manages: where it makes them, and where earlier releases did.
    assert (constants.MANAGED_SECRET_PREFIX, constants.LEGACY_SECRET_PREFIX) == (MANAGED_PREFIX, LEGACY_PREFIX)
    # The IAM conditions and the domain use the same tags.
    assert constants.MANAGED_SECRET_TAG == MANAGED_BY_TAG
    assert (constants.SECRET_OWNER_TAG, constants.SECRET_WORKFLOW_TAG, constants.SECRET_TRIGGER_TAG) == (
        OWNER_TAG,
        WORKFLOW_TAG,
        TRIGGER_TAG,
    )
    for arn, prefix in zip(managed, (MANAGED_PREFIX, LEGACY_PREFIX), strict=True):
        assert json.dumps(arn).endswith(f':secret:{prefix}*"]]}}')
    assert created == managed[0]  # new secrets under the neutral prefix only
    service_tag = {"secretsmanager:ResourceTag/managed-by": "workflow_scheduler"}
    has_owner = {"secretsmanager:ResourceTag/workflow-scheduler:owner": "false"}

    def on_managed(function: Any) -> list[dict[str, Any]]:
        return [s for s in role_statements(synthesized, function) if s["Resource"] in (managed, created)]

    # The webhook function reads and describes them (the owner check at firing), only those tagged as the
    # service's and with an owner.
    (read,) = on_managed(stack.webhooks.function)
    assert actions(read) == {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
    assert read["Condition"] == {"StringEquals": service_tag, "Null": has_owner}
    # The api function manages them: exactly what SecretsManagerStore calls, only on the service's own secrets;
    # new secrets only with the service's tags and an owner; DescribeSecret anywhere under the prefix (a deploy
    # tells a free name from one held by a secret that is not the service's). It reads them like the webhook
    # function (a deploy logs in to an e-mail trigger's mailbox with its password).
    by_actions = {frozenset(actions(s)): s for s in on_managed(stack.api.function)}
    assert by_actions[frozenset(actions(read))]["Condition"] == read["Condition"]
    assert set(by_actions) == {
        frozenset(actions(read)),
        frozenset({"secretsmanager:DescribeSecret"}),
        frozenset(
            {
                "secretsmanager:GetSecretValue",
                "secretsmanager:PutSecretValue",
                "secretsmanager:RestoreSecret",
                "secretsmanager:DeleteSecret",
            }
        ),
        frozenset({"secretsmanager:CreateSecret", "secretsmanager:TagResource"}),
    }
    assert "Condition" not in by_actions[frozenset({"secretsmanager:DescribeSecret"})]
    manage = next(s for a, s in by_actions.items() if "secretsmanager:DeleteSecret" in a)
    assert manage["Condition"] == {"StringEquals": service_tag}
    create = by_actions[frozenset({"secretsmanager:CreateSecret", "secretsmanager:TagResource"})]
    assert create["Resource"] == created and manage["Resource"] == managed
    assert create["Condition"] == {
        "StringEquals": {"aws:RequestTag/managed-by": "workflow_scheduler"},
        "Null": {"aws:RequestTag/workflow-scheduler:owner": "false"},
        "ForAllValues:StringEquals": {
            "aws:TagKeys": [
                "managed-by",
                "workflow-scheduler:owner",
                "workflow-scheduler:workflow-id",
                "workflow-scheduler:trigger-id",
            ]
        },
    }
    # Nobody else (but the migrate function's adoption: tests/infra/test_secret_adoption.py), and nowhere a
    # wildcard action or a secret resource of "*".
    for function in (stack.dispatch.function, stack.cron.function, stack.reconcile.function):
        assert not on_managed(function)
    for policy in synthesized.resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert not any(a.endswith(":*") or a == "*" for a in actions(statement)), statement
            if any(a.startswith("secretsmanager:") for a in actions(statement)):
                assert statement["Resource"] != "*"


def test_api_gateway_passes_bodies_byte_for_byte(synthesized: Synthesized) -> None:
    """Binary webhook bodies (and HMAC signatures over them) need API Gateway to base64-encode, not transcode."""
    _, api = only(synthesized.resources("AWS::ApiGateway::RestApi"))
    assert api["Properties"]["BinaryMediaTypes"] == ["*/*"]


def _stack_routes(synthesized: Synthesized) -> set[tuple[str, str, str]]:
    """(method, resource path, function folder) of every method of the REST API."""
    parts = {
        lid: (r["Properties"]["PathPart"], r["Properties"]["ParentId"])
        for lid, r in synthesized.resources("AWS::ApiGateway::Resource").items()
    }

    def path(ref: dict[str, Any]) -> str:
        if "Ref" not in ref:  # the root resource
            return ""
        part, parent = parts[ref["Ref"]]
        return f"{path(parent)}/{part}"

    stack = synthesized.stack
    folders = {
        synthesized.logical_id(stack.api.function): constants.API_FUNCTION,
        synthesized.logical_id(stack.webhooks.function): constants.WEBHOOK_FUNCTION,
        synthesized.logical_id(stack.github.function): constants.GITHUB_FUNCTION,
    }
    routes = set()
    for method in synthesized.resources("AWS::ApiGateway::Method").values():
        props = method["Properties"]
        (folder,) = [name for lid, name in folders.items() if lid in json.dumps(props["Integration"]["Uri"])]
        routes.add((props["HttpMethod"], path(props["ResourceId"]), folder))
    return routes


def test_the_local_gateway_serves_the_stack_routes(synthesized: Synthesized) -> None:
    """workflow_scheduler.local.routes is the local twin of the REST API: the same resources, methods, functions."""
    local = {(r.method, r.resource, r.function) for r in active_routes() if not r.local_only}
    assert local == _stack_routes(synthesized)


@pytest.mark.parametrize(
    ("method", "path", "function"),
    [
        ("POST", "/v1/workflows/wf-1/trigger/manual", constants.API_FUNCTION),
        ("GET", "/v1/workflows/wf-1/events", constants.API_FUNCTION),
        ("POST", "/v1/workflows/wf-1/deploy", constants.API_FUNCTION),
        ("GET", "/health", constants.API_FUNCTION),
        ("POST", "/webhook/wf-1", constants.WEBHOOK_FUNCTION),
        ("PUT", "/webhook/team/orders/created", constants.WEBHOOK_FUNCTION),
        ("POST", "/webhooks/github", constants.GITHUB_FUNCTION),
        ("GET", "/webhooks/github", None),
        ("POST", "/webhook", None),
    ],
)
def test_routes_reach_their_function(synthesized: Synthesized, method: str, path: str, function: str | None) -> None:
    routes = [Route(m, resource, folder) for m, resource, folder in _stack_routes(synthesized)]
    found = find(routes, method, path)
    assert (found[0].function if found else None) == function


def test_alarm_on_parked_firings(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    props = synthesized.properties(stack.alarms.parked_firings)
    assert (props["Namespace"], props["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert props["Dimensions"] == [
        {
            "Name": "QueueName",
            "Value": {"Fn::GetAtt": [synthesized.logical_id(stack.shared.dispatch_queue.dead_letters), "QueueName"]},
        }
    ]
    assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
    assert props["Statistic"] == "Maximum"
    assert props["TreatMissingData"] == "notBreaching"
    topic = {"Ref": synthesized.logical_id(stack.alarms.topic)}
    assert props["AlarmActions"] == props["OKActions"] == [topic]


def test_alarm_on_dispatch_errors(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    props = synthesized.properties(stack.alarms.dispatch_errors)
    assert (props["Namespace"], props["MetricName"]) == ("AWS/Lambda", "Errors")
    assert props["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": synthesized.logical_id(stack.dispatch.function)}}
    ]
    assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
    assert props["AlarmActions"] == [{"Ref": synthesized.logical_id(stack.alarms.topic)}]


def test_alarm_topic_is_encrypted_tls_only_and_open_to_cloudwatch_alarms(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    key = synthesized.logical_id(stack.alarms.key)
    topic = synthesized.properties(stack.alarms.topic)
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": [key, "Arn"]}
    key_props = synthesized.properties(stack.alarms.key)
    assert key_props["EnableKeyRotation"] is True
    cloudwatch = {"Service": "cloudwatch.amazonaws.com"}
    (key_grant,) = [s for s in key_props["KeyPolicy"]["Statement"] if s["Principal"] == cloudwatch]
    assert set(key_grant["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    _, policy = only(synthesized.resources("AWS::SNS::TopicPolicy"))
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    (publish,) = [s for s in statements if s["Effect"] == "Allow"]
    assert (publish["Principal"], publish["Action"]) == (cloudwatch, "sns:Publish")
    assert ":alarm:*" in json.dumps(publish["Condition"]["ArnLike"]["aws:SourceArn"])
    assert not synthesized.resources("AWS::SNS::Subscription")  # only with the alarmEmail option
