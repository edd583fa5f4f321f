"""Deployment options (CDK context): what each changes in the template, and the values refused at synth."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import App

from infra_cdk import constants
from infra_cdk.config import ConfigError, StackConfig
from infra_cdk.functions.dispatch import environment_for_testing_mode
from tests.infra.conftest import (
    OPTIONS,
    REPLACING_OPTIONS,
    Synthesized,
    actions,
    event_source_of,
    only,
    role_statements,
)
from workflow_scheduler.settings import DispatchSettings

PARTNER_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:partner/github-AbCdEf"
PARTNER_PATTERN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:partner/hooks/*"
SMTP_PASSWORD = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:smtp/password-AbCdEf"


def config(**context: Any) -> StackConfig:
    return StackConfig.from_context(App(context=context))


def test_testing_mode_over_ses(synthesized_with_options: Synthesized) -> None:
    synth = synthesized_with_options
    env = synth.properties(synth.stack.dispatch.function)["Environment"]["Variables"]
    assert env[constants.ENV_TESTING_MODE] == "true"
    assert env[constants.ENV_TESTING_EMAIL_RECIPIENT] == "qa@example.org"
    assert env[constants.ENV_EMAIL_CLIENT_TYPE] == "ses"
    assert env[constants.ENV_EMAIL_FROM] == "scheduler@example.com"
    assert not [name for name in env if name.startswith("SMTP_")]
    assert env[constants.ENV_WORKFLOW_ENGINE_URL] == "https://engine.example.com:8443"
    values = {k.lower(): v if isinstance(v, str) else f"<{k}>" for k, v in env.items()}
    settings = DispatchSettings.model_validate(values)
    assert settings.testing_mode and settings.mail_client_type == "ses"

    (ses,) = [s for s in role_statements(synth, synth.stack.dispatch.function) if "ses:SendRawEmail" in actions(s)]
    assert actions(ses) == {"ses:SendRawEmail"}  # the one call MailNotifier makes
    identities = {json.dumps(resource).split(":identity/")[1].split('"')[0] for resource in ses["Resource"]}
    # The From address's domain and the address (whichever is verified), and the recipient (SES sandbox).
    assert identities == {"example.com", "scheduler@example.com", "qa@example.org"}


def test_webhook_options(synthesized_with_options: Synthesized) -> None:
    synth = synthesized_with_options
    stack = synth.stack
    env = synth.properties(stack.webhooks.function)["Environment"]["Variables"]
    assert env[constants.ENV_WEBHOOK_MAX_BODY_BYTES] == "2097152"
    has_owner = {"Null": {"secretsmanager:ResourceTag/workflow-scheduler:owner": "false"}}

    def on_partner(function: Any) -> list[dict[str, Any]]:
        return [s for s in role_statements(synth, function) if "partner/" in json.dumps(s["Resource"])]

    # The operator's extra secrets: the webhook function reads those with an owner tag; the api function only
    # describes them (the owner tag check at deploy), never manages them.
    (read,) = on_partner(stack.webhooks.function)
    assert actions(read) == {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
    assert sorted(read["Resource"]) == sorted([PARTNER_SECRET, PARTNER_PATTERN])
    assert read["Condition"] == has_owner
    (describe,) = on_partner(stack.api.function)
    assert actions(describe) == {"secretsmanager:DescribeSecret"}
    assert describe["Condition"] == has_owner


def test_dispatch_concurrency_and_alarm_email(synthesized_with_options: Synthesized) -> None:
    synth = synthesized_with_options
    assert event_source_of(synth, synth.stack.dispatch.function)["ScalingConfig"] == {"MaximumConcurrency": 4}
    _, subscription = only(synth.resources("AWS::SNS::Subscription"))
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "oncall@example.com"


def test_defaults() -> None:
    defaults = config()
    assert defaults.workflow_engine_url == constants.DEFAULT_WORKFLOW_ENGINE_URL
    assert defaults.testing is None
    assert defaults.webhook_secret_arns == ()
    assert defaults.webhook_max_body_bytes is None
    assert defaults.dispatch_max_concurrency == constants.DEFAULT_DISPATCH_MAX_CONCURRENCY
    assert defaults.alarm_email is None


def test_json_values_from_cdk_json_are_accepted_too() -> None:
    parsed = config(
        testingMode=True,
        testingEmailRecipient="qa@example.org",
        smtpHost="smtp.example.com",
        smtpPort=465,
        webhookSecretArns=[PARTNER_SECRET],
        dispatchMaxConcurrency=20,
    )
    assert parsed.testing is not None and parsed.testing.smtp_port == 465
    assert parsed.webhook_secret_arns == (PARTNER_SECRET,)
    assert parsed.dispatch_max_concurrency == 20


def test_testing_mode_over_smtp_environment() -> None:
    parsed = config(
        testingMode="true",
        testingEmailRecipient="qa@example.org",
        emailFrom="scheduler@example.com",
        smtpHost="smtp.example.com",
        smtpPort="465",
        smtpSecurity="ssl",
        smtpUsername="scheduler",
        smtpPasswordSecretArn=SMTP_PASSWORD,
    )
    assert parsed.testing is not None
    assert parsed.testing.ses_identities == ()
    env = environment_for_testing_mode(parsed.testing)
    assert env == {
        "TESTING_EMAIL_RECIPIENT": "qa@example.org",
        "EMAIL_CLIENT_TYPE": "smtp",
        "EMAIL_FROM": "scheduler@example.com",
        "SMTP_HOST": "smtp.example.com",
        "SMTP_PORT": "465",
        "SMTP_SECURITY": "ssl",
        "SMTP_USERNAME": "scheduler",
        "SMTP_PASSWORD_SECRET_ARN": SMTP_PASSWORD,
    }
    values = {k.lower(): v for k, v in env.items()} | {
        "testing_mode": "true",
        "db_secret_arn": "x",
        "state_table_name": "t",
    }
    DispatchSettings.model_validate(values)


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"testingMode": "true"}, "testingEmailRecipient"),
        ({"testingMode": "yes"}, "true or false"),
        ({"testingMode": "true", "testingEmailRecipient": "qa@example.org"}, "smtpHost"),
        ({"testingMode": "true", "testingEmailRecipient": "qa@example.org", "emailClientType": "ses"}, "emailFrom"),
        ({"testingMode": "true", "testingEmailRecipient": "qa@example.org", "emailClientType": "sms"}, "one of"),
        (
            {
                "testingMode": "true",
                "testingEmailRecipient": "qa@example.org",
                "smtpHost": "smtp.example.com",
                "smtpUsername": "scheduler",
            },
            "smtpPasswordSecretArn",
        ),
        (
            {
                "testingMode": "true",
                "testingEmailRecipient": "qa@example.org",
                "smtpHost": "smtp.example.com",
                "smtpPasswordSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:smtp/password",
            },
            "complete ARN",
        ),
        ({"workflowEngineUrl": "workflow-engine:8002"}, "http(s) URL"),
        ({"webhookSecretArns": "partner/github"}, "not a Secrets Manager secret ARN"),
        ({"webhookSecretArns": "[not json"}, "not a valid JSON list"),
        ({"webhookSecretArns": [1]}, "list of strings"),
        ({"webhookMaxBodyBytes": "100"}, "from 1024 to"),
        ({"webhookMaxBodyBytes": str(8 * 1024 * 1024)}, "from 1024 to"),
        ({"dispatchMaxConcurrency": "1"}, "from 2 to 1000"),
        ({"dispatchMaxConcurrency": "ten"}, "whole number"),
        ({"alarmEmail": "oncall"}, "e-mail address"),
    ],
)
def test_unusable_values_fail_the_synthesis(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config(**context)


def test_the_options_fixture_sets_every_option_but_smtp() -> None:
    """test_options covers each key; SMTP (an alternative to SES) is checked without a synthesis above, and the
    options that replace resources of the default app on their own construct."""
    keys = {value for name, value in vars(constants).items() if name.startswith("CTX_")}
    smtp = {key for key in keys if key.startswith("smtp")} | {constants.CTX_SES_IDENTITIES}
    assert set(OPTIONS) == keys - smtp - REPLACING_OPTIONS
