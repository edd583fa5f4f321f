"""The firing history's retention run in the stack: its function, its daily rule and its alarm (issue 11)."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App

from infra_cdk import constants
from infra_cdk.config import ConfigError, StackConfig
from tests.infra.conftest import COMMON_ENV, DB_ENV, Synthesized, actions, code_of, only, role_statements
from workflow_scheduler.domain.retention import DEFAULT_RETENTION_DAYS, IDEMPOTENCY_KEY_WINDOW


def test_retention_function(synthesized: Synthesized) -> None:
    function = synthesized.stack.retention.function
    props = synthesized.properties(function)
    assert code_of(synthesized, props) == (constants.FUNCTIONS_DIR / "retention" / "handler.py").read_text()
    env = props["Environment"]["Variables"]
    assert set(env) == COMMON_ENV | DB_ENV | {constants.ENV_FIRING_RETENTION_DAYS}
    assert env[constants.ENV_FIRING_RETENTION_DAYS] == str(DEFAULT_RETENTION_DAYS) == "30"
    assert props["Timeout"] == constants.RETENTION_TIMEOUT.to_seconds()
    # It needs PostgreSQL only: the database secret, and its traces.
    services = {action.split(":")[0] for s in role_statements(synthesized, function) for action in actions(s)}
    assert services == {"xray", "secretsmanager"}


def test_it_runs_daily_with_retries_and_alarms_when_it_fails(synthesized: Synthesized) -> None:
    retention = synthesized.stack.retention
    function = {"Ref": synthesized.logical_id(retention.function)}
    _, rule = only(synthesized.resources("AWS::Events::Rule"))
    props = rule["Properties"]
    assert (props["ScheduleExpression"], props["State"]) == ("cron(47 4 * * ? *)", "ENABLED")
    (target,) = props["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [synthesized.logical_id(retention.function), "Arn"]}
    assert json.loads(target["Input"]) == {"dry_run": False}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2
    (invoke_config,) = [
        c["Properties"]
        for c in synthesized.resources("AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == function
    ]
    assert invoke_config["MaximumRetryAttempts"] == 2
    alarm = synthesized.properties(retention.errors)
    assert (alarm["MetricName"], alarm["Threshold"]) == ("Errors", 1)
    topic = {"Ref": synthesized.logical_id(synthesized.stack.alarms.topic)}
    assert alarm["AlarmActions"] == alarm["OKActions"] == [topic]


def test_the_retention_option(synthesized_with_options: Synthesized) -> None:
    props = synthesized_with_options.properties(synthesized_with_options.stack.retention.function)
    assert props["Environment"]["Variables"][constants.ENV_FIRING_RETENTION_DAYS] == "90"


def test_the_default_and_the_floor_are_the_domains() -> None:
    assert constants.DEFAULT_FIRING_RETENTION_DAYS == DEFAULT_RETENTION_DAYS
    assert constants.FIRING_RETENTION_DAYS_RANGE[0] * 86400 >= IDEMPOTENCY_KEY_WINDOW.total_seconds()
    with pytest.raises(ConfigError, match="firingRetentionDays must be a whole number from 1 to 3650"):
        StackConfig.from_context(App(context={constants.CTX_FIRING_RETENTION_DAYS: "0"}))
