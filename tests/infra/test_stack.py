"""The synthesized template has the resources the service needs, configured as the architecture says."""

from __future__ import annotations

import json
from typing import Any

from infra_cdk import constants
from tests.infra.conftest import COMMON_ENV, DB_ENV, SCHEDULER_ENV, Synthesized, only, service_functions


def function_named(synthesized: Synthesized, construct_id: str) -> dict[str, Any]:
    (resource,) = [r for lid, r in service_functions(synthesized).items() if construct_id in lid]
    props: dict[str, Any] = resource["Properties"]
    return props


def test_every_service_function_runs_python_312_with_both_layers(synthesized: Synthesized) -> None:
    functions = service_functions(synthesized)
    # api, webhook, dispatch, migrate, cron, reconcile, github, its router and sweep, email_poller, retention
    assert len(functions) == 11
    layers = {
        synthesized.logical_id(synthesized.stack.shared.layers.shared),
        synthesized.logical_id(synthesized.stack.shared.layers.dependencies),
    }
    # The e-mail poller has a security group of its own (tests/infra/test_email.py): IMAP, HTTPS, the proxy.
    email_poller = synthesized.logical_id(synthesized.stack.email_poller.function)
    for logical_id, props in ((lid, resource["Properties"]) for lid, resource in functions.items()):
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["x86_64"]
        assert {layer["Ref"] for layer in props["Layers"]} == layers
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert "LogGroup" in props["LoggingConfig"]
        assert logical_id == email_poller or props["VpcConfig"]["SecurityGroupIds"] == [
            {"Fn::GetAtt": [synthesized.logical_id(synthesized.stack.shared.database.client_security_group), "GroupId"]}
        ]
        env = props["Environment"]["Variables"]
        assert env[constants.ENV_SERVICE_NAME] == "workflow_scheduler"
        assert env[constants.ENV_METRICS_NAMESPACE] == "WorkflowScheduler"
        assert env[constants.ENV_LOG_LEVEL] == "INFO"
        assert env[constants.ENV_DB_NAME] == "workflow_scheduler"


def test_api_function(synthesized: Synthesized) -> None:
    props = function_named(synthesized, constants.API_FUNCTION_ID)
    assert props["MemorySize"] == 512
    assert props["Timeout"] == 29
    env = props["Environment"]["Variables"]
    assert set(env) == COMMON_ENV | DB_ENV | SCHEDULER_ENV | {
        constants.ENV_JWT_SECRET_ARN,
        constants.ENV_STATE_TABLE_NAME,
        constants.ENV_DISPATCH_QUEUE_URL,
        constants.ENV_EMAIL_MAILBOX_SECRET_ARN,  # a deploy checks e-mail triggers' mailboxes
    }
    assert env[constants.ENV_DISPATCH_QUEUE_URL] == {
        "Ref": synthesized.logical_id(synthesized.stack.shared.dispatch_queue.queue)
    }
    assert env[constants.ENV_JWT_SECRET_ARN] == {"Ref": synthesized.logical_id(synthesized.stack.api.jwt_secret)}
    assert env[constants.ENV_STATE_TABLE_NAME] == {
        "Ref": synthesized.logical_id(synthesized.stack.shared.state_table.table)
    }
    assert env[constants.ENV_DB_HOST] == {
        "Fn::GetAtt": [synthesized.logical_id(synthesized.stack.shared.database.proxy), "Endpoint"]
    }


def test_migrate_function(synthesized: Synthesized) -> None:
    props = function_named(synthesized, constants.MIGRATE_FUNCTION_ID)
    assert props["Timeout"] == constants.MIGRATE_TIMEOUT.to_seconds()
    assert set(props["Environment"]["Variables"]) == COMMON_ENV | DB_ENV


def test_functions_may_read_only_their_secrets_and_table(synthesized: Synthesized) -> None:
    statements = [
        statement
        for policy in synthesized.resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    secret_reads = [s for s in statements if "secretsmanager:GetSecretValue" in s["Action"]]
    assert secret_reads and all(s["Resource"] != "*" for s in secret_reads)
    table_writes = [s for s in statements if "dynamodb:PutItem" in s["Action"]]
    assert len(table_writes) == 4  # api, reconcile and email_poller (locks), dispatch (idempotency records)
    table = {"Fn::GetAtt": [synthesized.logical_id(synthesized.stack.shared.state_table.table), "Arn"]}
    assert all(s["Resource"] == table for s in table_writes)


def test_log_groups_expire(synthesized: Synthesized) -> None:
    groups = synthesized.resources("AWS::Logs::LogGroup")
    assert len(groups) == 14  # eleven functions, API access logs, VPC flow logs, the reconcile state machine
    assert {g["Properties"]["RetentionInDays"] for g in groups.values()} == {90}
    (retention,) = synthesized.resources("Custom::LogRetention").values()  # RDS's own PostgreSQL log
    assert retention["Properties"]["RetentionInDays"] == 90


def test_state_table(synthesized: Synthesized) -> None:
    _, table = only(synthesized.resources("AWS::DynamoDB::Table"))
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"


def test_dispatch_queue_has_a_dead_letter_queue(synthesized: Synthesized) -> None:
    queues = synthesized.resources("AWS::SQS::Queue")
    dead_letters = synthesized.logical_id(synthesized.stack.shared.dispatch_queue.dead_letters)
    queue = queues[synthesized.logical_id(synthesized.stack.shared.dispatch_queue.queue)]["Properties"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dead_letters, "Arn"]},
        "maxReceiveCount": constants.DISPATCH_MAX_RECEIVES,
    }
    assert all(q["Properties"]["SqsManagedSseEnabled"] for q in queues.values())
    # enforce_ssl: deny plain HTTP (+ schedules' DLQ, the github events queue and its DLQ)
    assert len(synthesized.resources("AWS::SQS::QueuePolicy")) == 5


def test_database_instance(synthesized: Synthesized) -> None:
    _, instance = only(synthesized.resources("AWS::RDS::DBInstance"))
    props = instance["Properties"]
    assert (props["Engine"], props["EngineVersion"]) == ("postgres", "16")
    assert props["DBName"] == "workflow_scheduler"
    assert props["StorageEncrypted"] is True
    assert props["MultiAZ"] is True
    assert props["PubliclyAccessible"] is False
    assert props["DeletionProtection"] is True
    assert props["BackupRetentionPeriod"] == 7
    assert instance["DeletionPolicy"] == "Snapshot"
    assert "{{resolve:secretsmanager:" in json.dumps(props["MasterUserPassword"])


def test_database_subnets_have_no_route_out(synthesized: Synthesized) -> None:
    """The instance and the proxy live in the isolated subnets; functions in the egress subnets."""
    isolated = {synthesized.logical_id(s) for s in synthesized.stack.shared.database.vpc.isolated_subnets}
    _, proxy = only(synthesized.resources("AWS::RDS::DBProxy"))
    assert {ref["Ref"] for ref in proxy["Properties"]["VpcSubnetIds"]} == isolated
    _, group = only(synthesized.resources("AWS::RDS::DBSubnetGroup"))
    assert {ref["Ref"] for ref in group["Properties"]["SubnetIds"]} == isolated
    for props in (r["Properties"] for r in service_functions(synthesized).values()):
        assert not {ref["Ref"] for ref in props["VpcConfig"]["SubnetIds"]} & isolated


def test_proxy_requires_tls_and_the_generated_secret(synthesized: Synthesized) -> None:
    _, proxy = only(synthesized.resources("AWS::RDS::DBProxy"))
    props = proxy["Properties"]
    assert props["EngineFamily"] == "POSTGRESQL"
    assert props["RequireTLS"] is True
    secret = synthesized.logical_id(synthesized.stack.shared.database.secret)
    assert props["Auth"] == [{"AuthScheme": "SECRETS", "IAMAuth": "DISABLED", "SecretArn": {"Ref": secret}}]
    only(synthesized.resources("AWS::RDS::DBProxyTargetGroup"))


def test_only_the_functions_reach_the_proxy(synthesized: Synthesized) -> None:
    database = synthesized.stack.shared.database
    proxy_group = synthesized.logical_id(database.proxy.connections.security_groups[0])
    client_group = synthesized.logical_id(database.client_security_group)
    email_poller_group = synthesized.logical_id(synthesized.stack.email_poller.security_group)
    into_proxy = [
        (rule["IpProtocol"], rule["FromPort"], rule["ToPort"], rule["SourceSecurityGroupId"])
        for rule in (r["Properties"] for r in synthesized.resources("AWS::EC2::SecurityGroupIngress").values())
        if rule["GroupId"] == {"Fn::GetAtt": [proxy_group, "GroupId"]}
    ]
    assert sorted(into_proxy, key=str) == sorted(
        [("tcp", 5432, 5432, {"Fn::GetAtt": [group, "GroupId"]}) for group in (client_group, email_poller_group)],
        key=str,
    )
    _, proxy = only(synthesized.resources("AWS::RDS::DBProxy"))
    assert proxy["Properties"]["VpcSecurityGroupIds"] == [{"Fn::GetAtt": [proxy_group, "GroupId"]}]


def test_database_secret_rotates(synthesized: Synthesized) -> None:
    _, schedule = only(synthesized.resources("AWS::SecretsManager::RotationSchedule"))
    assert schedule["Properties"]["RotationRules"]["ScheduleExpression"] == "rate(30 days)"


def test_jwt_secret_is_a_generated_64_character_key(synthesized: Synthesized) -> None:
    props = synthesized.template["Resources"][synthesized.logical_id(synthesized.stack.api.jwt_secret)]["Properties"]
    assert props["GenerateSecretString"]["PasswordLength"] == 64
    assert "SecretStringTemplate" not in props["GenerateSecretString"]  # the whole string is the key


def test_routes(synthesized: Synthesized) -> None:
    paths = {r["Properties"]["PathPart"] for r in synthesized.resources("AWS::ApiGateway::Resource").values()}
    assert paths == {"health", "v1", "{proxy+}", "webhook", "{path+}", "webhooks", "github"}
    stack = synthesized.stack
    function_of = {
        synthesized.logical_id(stack.api.function): "api",
        synthesized.logical_id(stack.webhooks.function): "webhook",
        synthesized.logical_id(stack.github.function): "github",
    }
    routes = set()
    for method in synthesized.resources("AWS::ApiGateway::Method").values():
        props = method["Properties"]
        assert props["AuthorizationType"] == "NONE"  # JWT in the api function; per-trigger auth in the webhook one
        assert props["Integration"]["Type"] == "AWS_PROXY"
        assert props["RequestValidatorId"]
        (function,) = [name for lid, name in function_of.items() if lid in json.dumps(props["Integration"]["Uri"])]
        routes.add((props["HttpMethod"], props["ResourceId"]["Ref"], function))
    root = stack.api.rest_api.root
    health = synthesized.logical_id(root.resource_for_path("health"))
    proxy = synthesized.logical_id(root.resource_for_path("v1/{proxy+}"))
    webhook = synthesized.logical_id(root.resource_for_path("webhook/{path+}"))
    github = synthesized.logical_id(root.resource_for_path("webhooks/github"))
    assert routes == {
        ("GET", health, "api"),
        ("ANY", proxy, "api"),
        ("ANY", webhook, "webhook"),
        ("POST", github, "github"),
    }


def test_stage_logs_traces_and_throttles(synthesized: Synthesized) -> None:
    _, stage = only(synthesized.resources("AWS::ApiGateway::Stage"))
    props = stage["Properties"]
    assert props["StageName"] == "prod"
    assert props["TracingEnabled"] is True
    access_format = json.loads(props["AccessLogSetting"]["Format"])
    assert {"requestId", "ip", "status", "path", "integrationLatency"} <= set(access_format)
    assert props["AccessLogSetting"]["DestinationArn"]
    (settings,) = props["MethodSettings"]
    assert settings["LoggingLevel"] == "ERROR"
    assert settings["DataTraceEnabled"] is False
    assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == (100, 200)
    only(synthesized.resources("AWS::ApiGateway::Account"))  # the logging role the stage needs


def test_gateway_errors_keep_the_service_error_shape(synthesized: Synthesized) -> None:
    responses = synthesized.resources("AWS::ApiGateway::GatewayResponse")
    assert {r["Properties"]["ResponseType"] for r in responses.values()} >= {"DEFAULT_4XX", "DEFAULT_5XX"}
    for response in responses.values():
        body = response["Properties"]["ResponseTemplates"]["application/json"]
        rendered = json.loads(body.replace("$context.error.messageString", '"a message"'))
        assert set(rendered) == {"error", "message"}


def test_web_acl_guards_the_stage(synthesized: Synthesized) -> None:
    _, acl = only(synthesized.resources("AWS::WAFv2::WebACL"))
    assert acl["Properties"]["Scope"] == "REGIONAL"
    _, association = only(synthesized.resources("AWS::WAFv2::WebACLAssociation"))
    stage = synthesized.logical_id(synthesized.stack.api.rest_api.deployment_stage)
    assert stage in json.dumps(association["Properties"]["ResourceArn"])


def test_migrations_run_after_the_database_on_each_change(synthesized: Synthesized) -> None:
    _, trigger = only(synthesized.resources("Custom::Trigger"))
    props = trigger["Properties"]
    assert props["InvocationType"] == "RequestResponse"
    assert props["ExecuteOnHandlerChange"] is True
    (version_id,) = synthesized.resources("AWS::Lambda::Version")
    assert props["HandlerArn"] == {"Ref": version_id}
    database = synthesized.stack.shared.database
    for construct in (database.instance, database.proxy):
        assert synthesized.logical_id(construct) in trigger["DependsOn"]


def test_outputs(synthesized: Synthesized) -> None:
    outputs = synthesized.template["Outputs"]
    assert set(outputs) == {
        constants.OUTPUT_API_URL,
        constants.OUTPUT_JWT_SECRET_ARN,
        constants.OUTPUT_MIGRATE_FUNCTION,
        constants.OUTPUT_DISPATCH_QUEUE_URL,
        constants.OUTPUT_DISPATCH_DLQ_URL,
        constants.OUTPUT_ALARM_TOPIC_ARN,
        constants.OUTPUT_SCHEDULE_GROUP_NAME,
        constants.OUTPUT_SCHEDULES_DLQ_URL,
        constants.OUTPUT_CRON_FUNCTION,
        constants.OUTPUT_RECONCILE_FUNCTION,
        constants.OUTPUT_RECONCILE_STATE_MACHINE,
        constants.OUTPUT_GITHUB_WEBHOOK_URL,
        constants.OUTPUT_GITHUB_WEBHOOK_SECRET_ARN,
        constants.OUTPUT_GITHUB_APP_PRIVATE_KEY_SECRET_ARN,
        constants.OUTPUT_GITHUB_EVENTS_DLQ_URL,
        constants.OUTPUT_EMAIL_MAILBOX_SECRET_ARN,
        constants.OUTPUT_EMAIL_ATTACHMENTS_BUCKET,
        constants.OUTPUT_RETENTION_FUNCTION,
    }
    assert "execute-api" in json.dumps(outputs[constants.OUTPUT_API_URL]["Value"])
    queues = synthesized.stack.shared.dispatch_queue
    assert outputs[constants.OUTPUT_DISPATCH_QUEUE_URL]["Value"] == {"Ref": synthesized.logical_id(queues.queue)}
    assert outputs[constants.OUTPUT_DISPATCH_DLQ_URL]["Value"] == {"Ref": synthesized.logical_id(queues.dead_letters)}
    topic = synthesized.logical_id(synthesized.stack.alarms.topic)
    assert outputs[constants.OUTPUT_ALARM_TOPIC_ARN]["Value"] == {"Ref": topic}
    cron = synthesized.stack.cron
    assert outputs[constants.OUTPUT_SCHEDULE_GROUP_NAME]["Value"] == constants.SCHEDULE_GROUP_NAME
    assert outputs[constants.OUTPUT_SCHEDULES_DLQ_URL]["Value"] == {"Ref": synthesized.logical_id(cron.dead_letters)}
    assert outputs[constants.OUTPUT_CRON_FUNCTION]["Value"] == {"Ref": synthesized.logical_id(cron.function)}
    reconcile = synthesized.logical_id(synthesized.stack.reconcile.function)
    assert outputs[constants.OUTPUT_RECONCILE_FUNCTION]["Value"] == {"Ref": reconcile}
    state_machine = synthesized.logical_id(synthesized.stack.reconcile.state_machine)
    assert outputs[constants.OUTPUT_RECONCILE_STATE_MACHINE]["Value"] == {"Ref": state_machine}
    retention = synthesized.logical_id(synthesized.stack.retention.function)
    assert outputs[constants.OUTPUT_RETENTION_FUNCTION]["Value"] == {"Ref": retention}
