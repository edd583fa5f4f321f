"""Tenants stay apart, in-process through the API and webhook functions on real PostgreSQL and moto (issue 7, 1)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import psycopg
import pytest

from tests.integration.conftest import Stack
from tests.support.api import ApiClient, deploy_body, manual, webhook
from tests.support.webhooks import call_signed, call_webhook, signed_webhook

SIGNING = "alice-signing-key-1"


@dataclass
class System:
    api: ApiClient
    webhook: ModuleType
    database_url: str

    def signed_call(self, path: str, key: str = SIGNING) -> int:
        return call_signed(self.webhook, path, key).status


@pytest.fixture(scope="module")
def system(stack: Stack) -> System:
    return System(stack.api(), stack.load("webhook"), stack.database_url)


@pytest.fixture
def fresh(system: System, clean_database: str) -> System:
    return system


def secret_names() -> set[str]:
    return {s["Name"] for s in boto3.client("secretsmanager").list_secrets()["SecretList"]}


# -- secrets ---------------------------------------------------------------------------------------------------


def test_bob_cannot_use_or_delete_alices_managed_secret(fresh: System) -> None:
    alice_spec = deploy_body(signed_webhook("hook", "alice/orders", secret=SIGNING))
    assert fresh.api.call("deploy", "wf-alice", alice_spec).status == 200
    managed = "workflow-scheduler/triggers/wf-alice/hook"
    tags = {t["Key"]: t["Value"] for t in boto3.client("secretsmanager").describe_secret(SecretId=managed)["Tags"]}
    assert tags["workflow-scheduler:owner"] == "alice" and tags["workflow-scheduler:workflow-id"] == "wf-alice"
    assert tags["workflow-scheduler:trigger-id"] == "hook"

    def bobs_deploy(ref: str) -> Any:
        return fresh.api.call(
            "deploy", "wf-bob", deploy_body(signed_webhook("steal", "bob/x", secret_ref=ref)), user="bob"
        )

    stealing, missing = bobs_deploy(managed), bobs_deploy("no/such")
    assert stealing.status == missing.status == 422
    assert stealing.body == missing.body  # whether the secret exists is not disclosed
    assert stealing.body["error"] == "secret_not_allowed"
    [problem] = stealing.body["problems"]
    assert problem["node_id"] == "steal" and problem["field"] == "parameters.auth.secret_ref"
    assert fresh.api.call("status", "wf-bob", user="bob").status == 404
    # PUT on alice's workflow, undeploy of it: not bob's.
    assert fresh.api.call("update", "wf-alice", alice_spec, user="bob").status == 404
    assert fresh.api.call("undeploy", "wf-alice", user="bob").status == 404

    assert "DeletedDate" not in boto3.client("secretsmanager").describe_secret(SecretId=managed)
    assert fresh.signed_call("/webhook/alice/orders") == 202


def test_a_users_own_secret_needs_their_owner_tag_and_is_never_deleted(fresh: System) -> None:
    sm = boto3.client("secretsmanager")
    sm.create_secret(Name="team/untagged", SecretString=SIGNING)
    sm.create_secret(
        Name="team/alice-hook", SecretString=SIGNING, Tags=[{"Key": "workflow-scheduler:owner", "Value": "alice"}]
    )
    untagged = fresh.api.call(
        "deploy", "wf-own", deploy_body(signed_webhook("hook", "own/hook", secret_ref="team/untagged"))
    )
    assert untagged.status == 422 and "workflow-scheduler:owner=alice" in untagged.body["problems"][0]["message"]

    body = deploy_body(signed_webhook("hook", "own/hook", secret_ref="team/alice-hook"))
    assert fresh.api.call("deploy", "wf-own", body).status == 200
    assert fresh.signed_call("/webhook/own/hook") == 202
    assert fresh.api.call("undeploy", "wf-own").status == 200
    assert "DeletedDate" not in sm.describe_secret(SecretId="team/alice-hook")


def test_a_trigger_never_authenticates_with_a_secret_that_is_not_its_owners(fresh: System) -> None:
    """Defence in depth: a trigger row naming another user's secret (as deployed before the check) gets 503."""
    assert (
        fresh.api.call("deploy", "wf-alice", deploy_body(signed_webhook("hook", "alice/a", secret=SIGNING))).status
        == 200
    )
    body = deploy_body(signed_webhook("hook", "bob/b", secret="bob-key"))
    assert fresh.api.call("deploy", "wf-bob", body, user="bob").status == 200
    with psycopg.connect(fresh.database_url) as conn:
        conn.execute(
            "UPDATE trigger_index SET trigger_config = jsonb_set(trigger_config, '{auth,secret_ref}', %s)"
            " WHERE workflow_id = 'wf-bob'",
            (json.dumps("workflow-scheduler/triggers/wf-alice/hook"),),
        )
    answer = call_webhook(fresh.webhook, "/webhook/bob/b", {"X-Signature": "x"}, b"{}")
    assert answer.status == 503 and answer.body["error"] == "secret_unavailable"
    assert "alice" not in json.dumps(answer.body)
    assert fresh.signed_call("/webhook/bob/b") == 503  # even correctly signed with alice's key
    assert fresh.signed_call("/webhook/alice/a") == 202


# -- inline secrets -------------------------------------------------------------------------------------------


def test_a_non_trigger_nodes_secret_creates_nothing(fresh: System) -> None:
    action = {"id": "call", "node_type": "ACTION_NODE", "subtype": "TRIGGER_WEBHOOK", "parameters": {}}
    action["parameters"] = {"auth": {"type": "api_key", "secret": "engine-owned"}}
    before = secret_names()
    reply = fresh.api.call("deploy", "wf-act", deploy_body(manual("m"), action))
    assert reply.status == 200
    assert secret_names() == before
    assert fresh.api.call("status", "wf-act").body["workflow_spec"]["nodes"][1] == action


def test_an_inline_secret_over_4096_characters_is_422_and_never_echoed(fresh: System) -> None:
    value = "Zq" * 2049
    before = secret_names()
    reply = fresh.api.call("deploy", "wf-long", deploy_body(signed_webhook("hook", "long/hook", secret=value)))
    assert reply.status == 422 and reply.body["error"] == "validation_error"
    assert reply.body["problems"][0]["node_id"] == "hook"
    assert "ZqZq" not in json.dumps(reply.body)
    assert secret_names() == before


# -- default webhook paths ------------------------------------------------------------------------------------


def test_nobody_squats_the_default_path_of_a_workflow_id(fresh: System) -> None:
    squat = fresh.api.call("deploy", "wf-bob", deploy_body(webhook("grab", webhook_path="wf-later")), user="bob")
    assert squat.status == 422 and squat.body["problems"][0]["field"] == "parameters.webhook_path"
    assert fresh.api.call("status", "wf-bob", user="bob").status == 404
    deployed = fresh.api.call("deploy", "wf-later", deploy_body(webhook("hook")))
    assert deployed.status == 200
    assert deployed.body["triggers"][0]["webhook_url"] == "https://hooks.example.com/webhook/wf-later"


# -- workflow ids ---------------------------------------------------------------------------------------------


def test_a_workflow_id_and_its_history_stay_with_its_first_owner(fresh: System) -> None:
    assert fresh.api.call("deploy", "wf-a", deploy_body(manual("run"))).status == 200
    fired = fresh.api.call("manual", "wf-a", {"inputs": {"n": 1}})
    assert fired.status == 200
    assert fresh.api.call("undeploy", "wf-a").status == 200

    taken = fresh.api.call("deploy", "wf-a", deploy_body(manual("run")), user="bob")
    assert taken.status == 409 and taken.body["error"] == "workflow_id_conflict"
    assert fresh.api.call("update", "wf-a", deploy_body(manual("run")), user="bob").status == 404
    for name in ("events", "triggers", "status"):
        assert fresh.api.call(name, "wf-a", user="bob").status == 404, name

    events = fresh.api.call("events", "wf-a")
    assert events.status == 200
    assert [e["execution_id"] for e in events.body["events"]] == [fired.body["execution_id"]]
    assert fresh.api.call("deploy", "wf-a", deploy_body(manual("run"))).body["version"] == 2
    [trigger] = fresh.api.call("triggers", "wf-a").body["triggers"]
    assert trigger["last_fired_at"] is not None
    with psycopg.connect(fresh.database_url) as conn:
        assert conn.execute("SELECT owner FROM deployments WHERE workflow_id = 'wf-a'").fetchone() == ("alice",)
