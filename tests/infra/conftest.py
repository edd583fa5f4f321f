"""One synthesis of the real CDK app per test run, shared by every infra test (a synth takes seconds), and one
more of the same app with every deployment option set (tests/infra/test_options.py)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

# Before aws_cdk starts its Node.js process, which warns about Node 20 otherwise (the Makefile sets it too).
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import pytest
from aws_cdk import App, CfnElement, cx_api
from constructs import IConstruct

from infra_cdk import constants
from infra_cdk.app import build_app
from infra_cdk.stack import WorkflowSchedulerStack

# aws-cdk-lib's cx-api DISABLE_ASSET_STAGING_CONTEXT (not exported to Python): assets stay where they are.
DISABLE_ASSET_STAGING = "aws:cdk:disable-asset-staging"

# Every option of docs/deploy.md, as `cdk deploy -c key=value` passes them (strings).
OPTIONS = {
    constants.CTX_WORKFLOW_ENGINE_URL: "https://engine.example.com:8443/",
    constants.CTX_WEBHOOK_SECRET_ARNS: (
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:partner/github-AbCdEf,"
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:partner/hooks/*"
    ),
    constants.CTX_WEBHOOK_MAX_BODY_BYTES: "2097152",
    constants.CTX_DISPATCH_MAX_CONCURRENCY: "4",
    constants.CTX_FIRING_RETENTION_DAYS: "90",
    constants.CTX_ALARM_EMAIL: "oncall@example.com",
    constants.CTX_TESTING_MODE: "true",
    constants.CTX_TESTING_EMAIL_RECIPIENT: "qa@example.org",
    constants.CTX_EMAIL_CLIENT_TYPE: "ses",
    constants.CTX_EMAIL_FROM: "scheduler@example.com",
    constants.CTX_GITHUB_APP_ID: "4242",
    constants.CTX_GITHUB_API_URL: "https://github.example.com/api/v3/",
    constants.CTX_EMAIL_ALLOWED_PRIVATE_CIDRS: "10.20.0.0/16, fd12:3456::/48",
    constants.CTX_RATE_LIMIT_WINDOW_SECONDS: "300",
    constants.CTX_RATE_LIMIT_PER_TOKEN: "1500",
    constants.CTX_RATE_LIMIT_PER_ADDRESS: "4000",
    constants.CTX_GITHUB_RATE_LIMIT_PER_ADDRESS: "20000",
}
# Options that replace resources of the default app (the GitHub App's secrets, imported instead of created): checked
# on their own construct (tests/infra/test_github.py), so that this app keeps every resource of the default one.
REPLACING_OPTIONS = {constants.CTX_GITHUB_WEBHOOK_SECRET_ARN, constants.CTX_GITHUB_APP_PRIVATE_KEY_SECRET_ARN}


DB_ENV = {constants.ENV_DB_SECRET_ARN, constants.ENV_DB_HOST, constants.ENV_DB_NAME}
COMMON_ENV = {
    constants.ENV_SERVICE_NAME,
    constants.ENV_METRICS_NAMESPACE,
    constants.ENV_LOG_LEVEL,
    constants.ENV_TRACER_CAPTURE_RESPONSE,
    constants.ENV_TRACER_CAPTURE_ERROR,
}
SCHEDULER_ENV = {
    constants.ENV_SCHEDULE_GROUP_NAME,
    constants.ENV_CRON_FUNCTION_ARN,
    constants.ENV_SCHEDULER_ROLE_ARN,
    constants.ENV_SCHEDULES_DLQ_ARN,
}


@dataclass(frozen=True)
class Synthesized:
    app: App
    stack: WorkflowSchedulerStack
    artifact: cx_api.CloudFormationStackArtifact
    template: dict[str, Any]
    template_path: Path

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {lid: r for lid, r in self.template["Resources"].items() if r["Type"] == resource_type}

    def logical_id(self, construct: IConstruct) -> str:
        """The logical id of ``construct``'s CloudFormation resource (the L2's default child)."""
        element = construct.node.default_child or construct
        return str(self.stack.resolve(cast(CfnElement, element).logical_id))

    def properties(self, construct: IConstruct) -> dict[str, Any]:
        props: dict[str, Any] = self.template["Resources"][self.logical_id(construct)]["Properties"]
        return props


def only(resources: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    assert len(resources) == 1, sorted(resources)
    return next(iter(resources.items()))


def event_source_of(synthesized: Synthesized, function: IConstruct) -> dict[str, Any]:
    """The properties of the one event source mapping that feeds ``function``."""
    name = {"Ref": synthesized.logical_id(function)}
    mappings = synthesized.resources("AWS::Lambda::EventSourceMapping").values()
    (props,) = [m["Properties"] for m in mappings if m["Properties"]["FunctionName"] == name]
    found: dict[str, Any] = props
    return found


def service_functions(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    """The service's own functions (aws-cdk-lib adds helper functions of its own)."""
    return {
        logical_id: resource
        for logical_id, resource in synthesized.resources("AWS::Lambda::Function").items()
        if resource["Properties"].get("Handler") == constants.HANDLER
    }


def role_policy_statements(synthesized: Synthesized, role_logical_id: str) -> list[dict[str, Any]]:
    """Every statement of the policies attached to the role ``role_logical_id`` (inline or managed by the stack)."""
    role = {"Ref": role_logical_id}
    policies = [
        policy["Properties"]
        for policy in synthesized.resources("AWS::IAM::Policy").values()
        if role in policy["Properties"].get("Roles", [])
    ] + [
        policy["Properties"]
        for policy in synthesized.resources("AWS::IAM::ManagedPolicy").values()
        if role in policy["Properties"].get("Roles", [])
    ]
    return [statement for policy in policies for statement in policy["PolicyDocument"]["Statement"]]


def role_statements(synthesized: Synthesized, function: IConstruct) -> list[dict[str, Any]]:
    """Every statement of the policies attached to ``function``'s execution role."""
    return role_policy_statements(synthesized, synthesized.properties(function)["Role"]["Fn::GetAtt"][0])


def code_of(synthesized: Synthesized, props: dict[str, Any]) -> str:
    """The handler.py staged as the function's code asset (``asset.<hash>``, zipped as ``<hash>.zip``)."""
    key: str = props["Code"]["S3Key"]
    return (synthesized.template_path.parent / f"asset.{key.removesuffix('.zip')}" / "handler.py").read_text()


def actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def synthesize(outdir: Path, context: dict[str, Any] | None = None) -> Synthesized:
    """The app exactly as `cdk synth` builds it. Its synthesis runs cdk-nag and CloudFormation's own checks:
    a finding that is not acknowledged fails it, with the report on the captured stdout.
    Without the dependencies layer (`make layer`) this fails with a message that says so."""
    app, stack = build_app(str(outdir), context)
    assembly = app.synth()
    artifact = assembly.get_stack_by_name(stack.stack_name)
    return Synthesized(
        app=app,
        stack=stack,
        artifact=artifact,
        template=json.loads(Path(artifact.template_full_path).read_text()),
        template_path=Path(artifact.template_full_path),
    )


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    """The app with cdk.json's context only: what a plain `cdk deploy` deploys."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    yield synthesize(outdir)
    shutil.rmtree(outdir)  # the staged assets: about 100 MB, mostly the dependencies layer


@pytest.fixture(scope="session")
def synthesized_with_options(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    """The app with every option of ``OPTIONS`` (testing mode over SES among them)."""
    outdir = tmp_path_factory.mktemp("cdk.out.options")
    # Its assets are the default app's: reference them in place instead of copying 100 MB again.
    yield synthesize(outdir, {**OPTIONS, DISABLE_ASSET_STAGING: True})
    shutil.rmtree(outdir)
