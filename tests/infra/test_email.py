"""E-mail triggers in the template: the poller function and what it may reach, its every-minute schedule, the
service-wide mailbox's secret, the attachments bucket, and the alarms on stale or failing mailboxes."""

from __future__ import annotations

import inspect
import json
from typing import Any

from infra_cdk import constants
from tests.infra.conftest import (
    COMMON_ENV,
    DB_ENV,
    Synthesized,
    actions,
    code_of,
    role_policy_statements,
    role_statements,
)
from workflow_scheduler.adapters.attachments_s3 import DEFAULT_URL_SECONDS, S3AttachmentStore
from workflow_scheduler.domain.triggers.email.poll import LOCK_LEASE_SECONDS
from workflow_scheduler.settings import EmailPollerSettings, environment_variables

SCHEDULER = {"Service": "scheduler.amazonaws.com"}


def poller_props(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.properties(synthesized.stack.email_poller.function)


def test_the_poller_function_runs_the_handler_within_the_mailbox_lock_lease(synthesized: Synthesized) -> None:
    props = poller_props(synthesized)
    assert code_of(synthesized, props) == (constants.FUNCTIONS_DIR / "email_poller" / "handler.py").read_text()
    assert props["Timeout"] < LOCK_LEASE_SECONDS
    assert props["MemorySize"] == constants.EMAIL_POLLER_MEMORY_MB


def test_the_poller_gets_the_settings_it_reads(synthesized: Synthesized) -> None:
    env: dict[str, Any] = poller_props(synthesized)["Environment"]["Variables"]
    fields = set(environment_variables(EmailPollerSettings).values())
    assert set(env) - COMMON_ENV <= fields
    assert DB_ENV | {constants.ENV_DISPATCH_QUEUE_URL, constants.ENV_STATE_TABLE_NAME} <= set(env)
    assert env[constants.ENV_LOCK_BACKEND] == "dynamodb"
    assert int(env[constants.ENV_EMAIL_ATTACHMENT_URL_SECONDS]) == DEFAULT_URL_SECONDS
    values = {name.lower(): v if isinstance(v, str) else f"<{name}>" for name, v in env.items() if name in fields}
    settings = EmailPollerSettings.model_validate(values)
    assert settings.email_mailbox_secret_arn and settings.email_attachments_bucket


def test_the_poller_reaches_imap_https_and_the_database_proxy_only(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    group = synthesized.properties(stack.email_poller.security_group)
    egress = {
        (rule["IpProtocol"], rule["FromPort"], rule["ToPort"], rule.get("CidrIp"))
        for rule in group["SecurityGroupEgress"]
    }
    assert egress == {("tcp", 993, 993, "0.0.0.0/0"), ("tcp", 143, 143, "0.0.0.0/0"), ("tcp", 443, 443, "0.0.0.0/0")}
    group_id = {"Fn::GetAtt": [synthesized.logical_id(stack.email_poller.security_group), "GroupId"]}
    assert poller_props(synthesized)["VpcConfig"]["SecurityGroupIds"] == [group_id]
    proxy_ingress = [
        r["Properties"]
        for r in synthesized.resources("AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"].get("SourceSecurityGroupId") == group_id
    ]
    assert [(p["FromPort"], p["ToPort"]) for p in proxy_ingress] == [(5432, 5432)]
    to_proxy = [
        r["Properties"]
        for r in synthesized.resources("AWS::EC2::SecurityGroupEgress").values()
        if r["Properties"]["GroupId"] == group_id
    ]
    assert [(p["FromPort"], p["ToPort"]) for p in to_proxy] == [(5432, 5432)]


def test_the_poller_may_read_only_owned_secrets_and_write_only_its_attachments(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    statements = role_statements(synthesized, stack.email_poller.function)
    secrets = [s for s in statements if any(a.startswith("secretsmanager:") for a in actions(s))]
    managed = [s for s in secrets if "Condition" in s]
    assert managed and all(
        actions(s) <= {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"} for s in secrets
    )
    assert all(
        s["Condition"]["StringEquals"] == {"secretsmanager:ResourceTag/managed-by": "workflow_scheduler"}
        and s["Condition"]["Null"] == {f"secretsmanager:ResourceTag/{constants.SECRET_OWNER_TAG}": "false"}
        for s in managed
    )
    mailbox = {"Ref": synthesized.logical_id(stack.email_poller.service_mailbox)}
    assert any(mailbox in s["Resource"] and "Condition" not in s for s in secrets)
    (s3,) = [s for s in statements if any(a.startswith("s3:") for a in actions(s))]
    assert actions(s3) == {"s3:PutObject", "s3:GetObject"}
    bucket = synthesized.logical_id(stack.email_poller.attachments)
    assert s3["Resource"] == {"Fn::Join": ["", [{"Fn::GetAtt": [bucket, "Arn"]}, "/email-attachments/*"]]}
    assert inspect.signature(S3AttachmentStore).parameters["prefix"].default == constants.EMAIL_ATTACHMENT_PREFIX
    sends = [s for s in statements if "sqs:SendMessage" in actions(s)]
    assert sends == [
        s
        for s in sends
        if s["Resource"] == {"Fn::GetAtt": [synthesized.logical_id(stack.shared.dispatch_queue.queue), "Arn"]}
    ]


def test_the_attachments_bucket_is_private_encrypted_and_expires_with_the_urls(synthesized: Synthesized) -> None:
    bucket = synthesized.properties(synthesized.stack.email_poller.attachments)
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and rule["ExpirationInDays"] * 24 * 3600 >= DEFAULT_URL_SECONDS
    assert rule["ExpirationInDays"] == 1  # no longer than the URLs that give the objects out
    (policy,) = [
        r["Properties"]
        for r in synthesized.resources("AWS::S3::BucketPolicy").values()
        if r["Properties"]["Bucket"] == {"Ref": synthesized.logical_id(synthesized.stack.email_poller.attachments)}
    ]
    (deny,) = policy["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_service_mailbox_secret_starts_without_a_mailbox(synthesized: Synthesized) -> None:
    secret = synthesized.properties(synthesized.stack.email_poller.service_mailbox)
    template = json.loads(secret["GenerateSecretString"]["SecretStringTemplate"])
    assert template["IMAP_SERVER"] == "" and template["EMAIL_USER"] == ""  # no default mailbox until it is set
    assert secret["GenerateSecretString"]["GenerateStringKey"] == "EMAIL_PASSWORD"
    outputs = synthesized.template["Outputs"]
    assert outputs[constants.OUTPUT_EMAIL_MAILBOX_SECRET_ARN]["Value"] == {
        "Ref": synthesized.logical_id(synthesized.stack.email_poller.service_mailbox)
    }


def test_the_schedule_runs_the_poller_every_minute_from_the_default_group(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    schedule = synthesized.properties(stack.email_poller.schedule)
    assert schedule["ScheduleExpression"] == "rate(1 minute)"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"} and "GroupName" not in schedule
    target = schedule["Target"]
    assert target["Arn"] == {"Fn::GetAtt": [synthesized.logical_id(stack.email_poller.function), "Arn"]}
    assert json.loads(target["Input"]) == {"scheduled_time": "<aws.scheduler.scheduled-time>"}
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 60, "MaximumRetryAttempts": 0}
    role = synthesized.properties(stack.email_poller.schedule_role)
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == SCHEDULER and "aws:SourceAccount" in trust["Condition"]["StringEquals"]
    statements = role_policy_statements(synthesized, synthesized.logical_id(stack.email_poller.schedule_role))
    assert {a for s in statements for a in actions(s)} == {"lambda:InvokeFunction"}
    invoke = synthesized.template["Resources"]
    configs = [
        r["Properties"]
        for r in invoke.values()
        if r["Type"] == "AWS::Lambda::EventInvokeConfig"
        and r["Properties"]["FunctionName"] == {"Ref": synthesized.logical_id(stack.email_poller.function)}
    ]
    assert [(c["MaximumRetryAttempts"], c["MaximumEventAgeInSeconds"]) for c in configs] == [(0, 60)]


def test_alarms_on_failing_and_stale_mailboxes_and_on_the_poller_itself(synthesized: Synthesized) -> None:
    poller = synthesized.stack.email_poller
    topic = {"Ref": synthesized.logical_id(synthesized.stack.alarms.topic)}
    for alarm in (poller.failing_alarm, poller.stale_alarm, poller.errors_alarm, poller.not_running_alarm):
        props = synthesized.properties(alarm)
        assert props["AlarmActions"] == [topic] and props["OKActions"] == [topic]
    failing = synthesized.properties(poller.failing_alarm)
    assert (failing["MetricName"], failing["Namespace"]) == (constants.EMAIL_METRIC_FAILING, "WorkflowScheduler")
    assert failing["Dimensions"] == [{"Name": "service", "Value": "workflow_scheduler"}]
    assert failing["EvaluationPeriods"] == 3 and failing["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert synthesized.properties(poller.stale_alarm)["MetricName"] == constants.EMAIL_METRIC_STALE
    not_running = synthesized.properties(poller.not_running_alarm)
    assert not_running["MetricName"] == "Invocations" and not_running["TreatMissingData"] == "breaching"
    assert not_running["ComparisonOperator"] == "LessThanThreshold"
    handler = (constants.FUNCTIONS_DIR / "email_poller" / "handler.py").read_text()
    assert f'"{constants.EMAIL_METRIC_FAILING}"' in handler and f'"{constants.EMAIL_METRIC_STALE}"' in handler


def test_the_poller_waits_for_the_migrations(synthesized: Synthesized) -> None:
    """CloudFormation updates it only after the migrate run: its tables (0007) exist before it polls."""
    resources = synthesized.template["Resources"]
    (trigger,) = [lid for lid, r in resources.items() if r["Type"] == "Custom::Trigger"]
    poller = resources[synthesized.logical_id(synthesized.stack.email_poller.function)]
    assert trigger in poller["DependsOn"]
