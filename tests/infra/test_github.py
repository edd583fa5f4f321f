"""GitHub deliveries in the template: the function behind POST /webhooks/github, the events queue and its router,
the redelivery sweep's schedule, the App's secrets, the grants and the alarms."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import App, Stack, assertions

from infra_cdk import constants
from infra_cdk.config import ConfigError, GithubAppConfig, StackConfig
from infra_cdk.functions.github import webhook_secret
from infra_cdk.shared.github_app import GithubApp
from tests.infra.conftest import (
    COMMON_ENV,
    DB_ENV,
    Synthesized,
    actions,
    code_of,
    event_source_of,
    role_statements,
)

APP_KEY_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:github/app-key-GhIjKl"
HOOK_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:github/hook-AbCdEf"


def env_of(synthesized: Synthesized, function: Any) -> dict[str, Any]:
    variables: dict[str, Any] = synthesized.properties(function)["Environment"]["Variables"]
    return variables


def ref(synthesized: Synthesized, construct: Any) -> dict[str, str]:
    return {"Ref": synthesized.logical_id(construct)}


def statements_on(synthesized: Synthesized, function: Any, resource: Any) -> list[dict[str, Any]]:
    """The statements of ``function``'s role that name ``resource`` (a template value)."""
    text = json.dumps(resource)
    return [s for s in role_statements(synthesized, function) if text in json.dumps(s["Resource"])]


def test_the_github_function_verifies_records_and_queues_within_githubs_10_seconds(synthesized: Synthesized) -> None:
    github = synthesized.stack.github
    props = synthesized.properties(github.function)
    assert code_of(synthesized, props) == (constants.FUNCTIONS_DIR / "github" / "handler.py").read_text()
    assert props["Timeout"] == 10
    env = env_of(synthesized, github.function)
    assert set(env) == COMMON_ENV | DB_ENV | {"GITHUB_WEBHOOK_SECRET_ARN", "GITHUB_EVENTS_QUEUE_URL"}
    assert env["GITHUB_WEBHOOK_SECRET_ARN"] == ref(synthesized, github.webhook_secret)
    assert env["GITHUB_EVENTS_QUEUE_URL"] == ref(synthesized, github.queue)
    (send,) = statements_on(synthesized, github.function, {"Fn::GetAtt": [synthesized.logical_id(github.queue), "Arn"]})
    assert actions(send) >= {"sqs:SendMessage"} and "sqs:ReceiveMessage" not in actions(send)
    (read,) = statements_on(synthesized, github.function, ref(synthesized, github.webhook_secret))
    assert actions(read) == {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
    # It never holds the App's key: only the router and the sweep call GitHub.
    assert statements_on(synthesized, github.function, ref(synthesized, synthesized.stack.github_app.private_key)) == []


def test_the_route_leaves_authentication_to_the_signature(synthesized: Synthesized) -> None:
    """No authorizer and no required header: a delivery without a signature reaches the function, which answers
    401 (API Gateway would answer 400)."""
    resource = synthesized.stack.api.rest_api.root.resource_for_path("webhooks/github")
    methods = [
        m["Properties"]
        for m in synthesized.resources("AWS::ApiGateway::Method").values()
        if m["Properties"]["ResourceId"] == ref(synthesized, resource)
    ]
    assert [m["HttpMethod"] for m in methods] == ["POST"]
    assert methods[0]["AuthorizationType"] == "NONE"
    assert not methods[0].get("RequestParameters")
    function = synthesized.logical_id(synthesized.stack.github.function)
    assert function in json.dumps(methods[0]["Integration"]["Uri"])


def test_the_events_queue_is_encrypted_and_parks_deliveries_after_the_routers_last_attempt(
    synthesized: Synthesized,
) -> None:
    github, router = synthesized.stack.github, synthesized.stack.github_router
    queue = synthesized.properties(github.queue)
    dead_letters = synthesized.properties(github.dead_letters)
    assert queue["SqsManagedSseEnabled"] and dead_letters["SqsManagedSseEnabled"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [synthesized.logical_id(github.dead_letters), "Arn"]},
        "maxReceiveCount": constants.GITHUB_EVENTS_MAX_RECEIVES,
    }
    assert dead_letters["MessageRetentionPeriod"] == 14 * 24 * 3600
    router_timeout = synthesized.properties(router.function)["Timeout"]
    assert queue["VisibilityTimeout"] == 6 * router_timeout  # AWS's advice for a Lambda event source
    # The router knows its last attempt by the queue's own count.
    assert env_of(synthesized, router.function)["GITHUB_ROUTER_MAX_RECEIVES"] == str(
        queue["RedrivePolicy"]["maxReceiveCount"]
    )


def test_the_local_events_queue_parks_after_as_many_receives() -> None:
    """The local system's twin of the queue (workflow-scheduler dev) keeps the same redrive policy."""
    from workflow_scheduler.local.aws_resources import GITHUB_EVENTS_MAX_RECEIVES

    assert GITHUB_EVENTS_MAX_RECEIVES == constants.GITHUB_EVENTS_MAX_RECEIVES


def test_the_router_consumes_the_queue_with_partial_batch_failures(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    mapping = event_source_of(synthesized, stack.github_router.function)
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [synthesized.logical_id(stack.github.queue), "Arn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == constants.GITHUB_ROUTER_BATCH_SIZE
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": constants.GITHUB_ROUTER_MAX_CONCURRENCY}
    env = env_of(synthesized, stack.github_router.function)
    assert env["DISPATCH_QUEUE_URL"] == ref(synthesized, stack.shared.dispatch_queue.queue)
    assert env["GITHUB_APP_PRIVATE_KEY_SECRET_ARN"] == ref(synthesized, stack.github_app.private_key)
    assert env["GITHUB_API_URL"] == "https://api.github.com"
    assert "GITHUB_APP_ID" not in env  # without githubAppId: no App calls (path filters on pull requests refused)
    (read,) = statements_on(synthesized, stack.github_router.function, ref(synthesized, stack.github_app.private_key))
    assert actions(read) == {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}


def test_the_sweep_runs_every_10_minutes_as_the_app(synthesized: Synthesized) -> None:
    sweep = synthesized.stack.github_redelivery
    schedule = synthesized.properties(sweep.schedule)
    assert schedule["ScheduleExpression"] == "rate(10 minutes)"
    assert schedule.get("GroupName", "default") == "default"  # reconcile deletes what else is in the service's group
    assert schedule["Target"]["Arn"] == {"Fn::GetAtt": [synthesized.logical_id(sweep.function), "Arn"]}
    env = env_of(synthesized, sweep.function)
    assert set(env) == COMMON_ENV | DB_ENV | {"GITHUB_APP_PRIVATE_KEY_SECRET_ARN", "GITHUB_API_URL"}
    # Its only grants beyond the database and logs: reading the App's key.
    secrets_actions = {
        a for s in role_statements(synthesized, sweep.function) for a in actions(s) if "secretsmanager" in a
    }
    assert secrets_actions == {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}


def test_the_stack_makes_the_apps_secrets_and_says_where_they_are(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    hook = synthesized.properties(stack.github.webhook_secret)
    assert hook["GenerateSecretString"]["PasswordLength"] == constants.GITHUB_WEBHOOK_SECRET_LENGTH
    outputs = synthesized.template["Outputs"]
    assert outputs[constants.OUTPUT_GITHUB_WEBHOOK_SECRET_ARN]["Value"] == ref(synthesized, stack.github.webhook_secret)
    assert outputs[constants.OUTPUT_GITHUB_APP_PRIVATE_KEY_SECRET_ARN]["Value"] == ref(
        synthesized, stack.github_app.private_key
    )
    assert "webhooks/github" in json.dumps(outputs[constants.OUTPUT_GITHUB_WEBHOOK_URL]["Value"])
    assert outputs[constants.OUTPUT_GITHUB_EVENTS_DLQ_URL]["Value"] == ref(synthesized, stack.github.dead_letters)


def test_alarms_on_parked_deliveries_and_on_each_functions_errors(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    topic = [ref(synthesized, stack.alarms.topic)]
    parked = synthesized.properties(stack.github.parked_deliveries)
    assert (parked["Namespace"], parked["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert parked["Dimensions"][0]["Value"] == {
        "Fn::GetAtt": [synthesized.logical_id(stack.github.dead_letters), "QueueName"]
    }
    assert parked["AlarmActions"] == parked["OKActions"] == topic
    for part in (stack.github, stack.github_router, stack.github_redelivery):
        props = synthesized.properties(part.errors)
        assert (props["Namespace"], props["MetricName"], props["Threshold"]) == ("AWS/Lambda", "Errors", 1)
        assert props["Dimensions"] == [{"Name": "FunctionName", "Value": ref(synthesized, part.function)}]
        assert props["AlarmActions"] == topic


def test_the_apps_id_and_api_url_reach_the_functions_that_call_github(synthesized_with_options: Synthesized) -> None:
    synth = synthesized_with_options
    for function in (synth.stack.github_router.function, synth.stack.github_redelivery.function):
        env = env_of(synth, function)
        assert (env["GITHUB_APP_ID"], env["GITHUB_API_URL"]) == ("4242", "https://github.example.com/api/v3")
    assert "GITHUB_APP_ID" not in env_of(synth, synth.stack.github.function)


def test_existing_secrets_are_used_by_arn_and_none_is_created() -> None:
    stack = Stack(App())
    config = GithubAppConfig(webhook_secret_arn=HOOK_ARN, private_key_secret_arn=APP_KEY_ARN)
    hook = webhook_secret(stack, config)
    app = GithubApp(stack, "GithubApp", config=config)
    assert (stack.resolve(hook.secret_arn), stack.resolve(app.private_key.secret_arn)) == (HOOK_ARN, APP_KEY_ARN)
    assertions.Template.from_stack(stack).resource_count_is("AWS::SecretsManager::Secret", 0)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (constants.CTX_GITHUB_APP_ID, "my-app", "numeric id"),
        (constants.CTX_GITHUB_API_URL, "api.github.com", "http(s) URL"),
        (
            constants.CTX_GITHUB_WEBHOOK_SECRET_ARN,
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:hook",
            "complete",
        ),
        (constants.CTX_GITHUB_APP_PRIVATE_KEY_SECRET_ARN, "github/app-key", "complete ARN"),
    ],
)
def test_wrong_github_options_fail_the_synthesis_naming_the_key(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        StackConfig.from_context(App(context={key: value}))
    assert key in str(refused.value) and message in str(refused.value)
