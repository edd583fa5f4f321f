"""Managed secrets under the old webhook prefix keep working after the prefix became neutral: a trigger deployed by
an earlier release still authenticates with its secret, and the secret goes with the trigger (real PostgreSQL and
moto's Secrets Manager, through the api and webhook functions)."""

from __future__ import annotations

import boto3
import pytest

from tests.integration.conftest import Stack
from tests.integration.test_tenancy import SIGNING, System
from tests.support.api import deploy_body
from tests.support.legacy_secrets import as_legacy
from tests.support.webhooks import signed_webhook
from workflow_scheduler.domain.inline_secrets import managed_secret_name


@pytest.fixture(scope="module")
def functions(stack: Stack) -> System:
    return System(stack.api(), stack.load("webhook"), stack.database_url)


@pytest.fixture
def fresh(functions: System, clean_database: str) -> System:
    return functions


def test_an_old_prefix_secret_authenticates_and_is_deleted_with_its_trigger(fresh: System) -> None:
    assert (
        fresh.api.call("deploy", "wf-old", deploy_body(signed_webhook("hook", "old/hook", secret=SIGNING))).status
        == 200
    )
    legacy = as_legacy(fresh.database_url, "wf-old", "hook")
    assert legacy == "workflow-scheduler/webhooks/wf-old/hook"
    assert fresh.signed_call("/webhook/old/hook") == 202
    assert fresh.signed_call("/webhook/old/hook", key="not-the-key") == 401

    assert fresh.api.call("undeploy", "wf-old").status == 200
    assert "DeletedDate" in boto3.client("secretsmanager").describe_secret(SecretId=legacy)


def test_a_new_inline_secret_moves_the_trigger_to_the_neutral_prefix(fresh: System) -> None:
    deployed = fresh.api.call(
        "deploy", "wf-rotated", deploy_body(signed_webhook("hook", "rotated/hook", secret=SIGNING))
    )
    assert deployed.status == 200
    legacy = as_legacy(fresh.database_url, "wf-rotated", "hook")
    updated = fresh.api.call(
        "update", "wf-rotated", deploy_body(signed_webhook("hook", "rotated/hook", secret="rotated-key"))
    )
    assert updated.status == 200 and updated.body["changed"] is True

    sm = boto3.client("secretsmanager")
    current = managed_secret_name("wf-rotated", "hook")
    assert current == "workflow-scheduler/triggers/wf-rotated/hook"
    assert sm.get_secret_value(SecretId=current)["SecretString"] == "rotated-key"
    assert "DeletedDate" in sm.describe_secret(SecretId=legacy)
    assert fresh.signed_call("/webhook/rotated/hook", key="rotated-key") == 202
    assert fresh.signed_call("/webhook/rotated/hook") == 401
