"""Upgrading keeps webhooks working: the migrate function gives the managed secrets made before owner tags their
trigger owner's tags, once, on real PostgreSQL and moto's Secrets Manager (issue 7, part 1)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3
import psycopg
import pytest

from tests.integration.conftest import Stack
from tests.support.api import ApiClient, deploy_body
from tests.support.legacy_secrets import as_legacy
from tests.support.webhooks import call_signed, signed_webhook
from workflow_scheduler import cli
from workflow_scheduler.adapters.deployment_store import PostgresDeploymentStore
from workflow_scheduler.adapters.postgres import Database
from workflow_scheduler.adapters.secret_store import SecretsManagerStore
from workflow_scheduler.domain.errors import RegistrationFailed
from workflow_scheduler.domain.inline_secrets import LEGACY_PREFIX, MANAGED_PREFIX, OWNER_TAG, TRIGGER_TAG, WORKFLOW_TAG
from workflow_scheduler.domain.secret_adoption import SecretReference
from workflow_scheduler.local.functions import load_handler_module
from workflow_scheduler.local.invoke import LocalContext

SIGNING = "alice-signing-key-1"
OWNER_TAGS = [OWNER_TAG, WORKFLOW_TAG, TRIGGER_TAG]


@dataclass
class System:
    api: ApiClient
    database_url: str

    def deploy(self, workflow_id: str, *nodes: dict[str, Any], user: str = "alice") -> None:
        reply = self.api.call("deploy", workflow_id, deploy_body(*nodes), user=user)
        assert reply.status == 200, reply.body


@pytest.fixture(scope="module")
def system(stack: Stack) -> System:
    return System(stack.api(), stack.database_url)


@pytest.fixture
def fresh(system: System, clean_database: str) -> System:
    sm = boto3.client("secretsmanager")
    for listed in sm.list_secrets()["SecretList"]:
        if listed["Name"].startswith((MANAGED_PREFIX, LEGACY_PREFIX, "team/")):
            sm.delete_secret(SecretId=listed["ARN"], ForceDeleteWithoutRecovery=True)
    return system


def tags(name: str) -> dict[str, str]:
    described = boto3.client("secretsmanager").describe_secret(SecretId=name)
    return {t["Key"]: t["Value"] for t in described.get("Tags") or []}


def make_legacy(name: str) -> None:
    """What a release before owner tags left: the secret tagged only managed-by."""
    boto3.client("secretsmanager").untag_resource(SecretId=name, TagKeys=OWNER_TAGS)
    assert tags(name) == {"managed-by": "workflow_scheduler"}


def upgrade_database(database_url: str) -> None:
    """The database as the release before this one left it: without 0004 and its record of one-time tasks."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS one_time_tasks")
        conn.execute("DELETE FROM schema_migrations WHERE version = 4")


def migrate() -> dict[str, Any]:
    function = load_handler_module("migrate", fresh=True)
    result: dict[str, Any] = function.lambda_handler({}, LocalContext(function_name="migrate"))
    return result


def recorded_tasks(database_url: str) -> list[tuple[str, Any]]:
    with psycopg.connect(database_url) as conn:
        return [(r[0], r[1]) for r in conn.execute("SELECT name, report FROM one_time_tasks").fetchall()]


def cli_adopt(capsys: pytest.CaptureFixture[str], *flags: str) -> dict[str, Any]:
    capsys.readouterr()  # the functions' logs so far
    assert cli.main(["secrets", "adopt", *flags]) == 0
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    return result


def test_upgrade_adopts_legacy_secrets_and_their_webhooks_answer_again(
    fresh: System, capsys: pytest.CaptureFixture[str]
) -> None:
    # alice's webhook, deployed before owner tags: its secret carries only managed-by.
    fresh.deploy("wf-alice", signed_webhook("hook", "alice/orders", secret=SIGNING))
    alices = as_legacy(fresh.database_url, "wf-alice", "hook")
    make_legacy(alices)
    # bob's secret carries an owner tag already (someone else's): the adoption never changes an owner tag.
    fresh.deploy("wf-bob", signed_webhook("hook", "bob/orders", secret="bob-key"), user="bob")
    bobs = as_legacy(fresh.database_url, "wf-bob", "hook")
    boto3.client("secretsmanager").tag_resource(SecretId=bobs, Tags=[{"Key": OWNER_TAG, "Value": "mallory"}])
    # carol's trigger names a legacy secret made for another workflow (as deploys before the check allowed).
    fresh.deploy("wf-carol", signed_webhook("hook", "carol/orders", secret="carol-key"), user="carol")
    daves = "workflow-scheduler/webhooks/wf-dave/hook"
    boto3.client("secretsmanager").create_secret(
        Name=daves, SecretString="dave-key", Tags=[{"Key": "managed-by", "Value": "workflow_scheduler"}]
    )
    with psycopg.connect(fresh.database_url) as conn:
        conn.execute(
            "UPDATE trigger_index SET trigger_config = jsonb_set(trigger_config, '{auth,secret_ref}', %s)"
            " WHERE workflow_id = 'wf-carol'",
            (json.dumps(daves),),
        )
    # erin's secret lost even managed-by: not the service's to tag.
    fresh.deploy("wf-erin", signed_webhook("hook", "erin/orders", secret="erin-key"), user="erin")
    erins = as_legacy(fresh.database_url, "wf-erin", "hook")
    boto3.client("secretsmanager").untag_resource(SecretId=erins, TagKeys=["managed-by", *OWNER_TAGS])

    before = load_handler_module("webhook", fresh=True)
    refused = call_signed(before, "/webhook/alice/orders", SIGNING)
    assert refused.status == 503
    assert refused.body == {"error": "secret_unavailable", "message": "the trigger's secret cannot be used"}
    untouched = {name: tags(name) for name in (bobs, daves, erins)}

    # A dry run counts and changes nothing.
    expected = {
        "scanned": 4,
        "tagged": 1,
        "skipped": {"has_owner_tag": 1, "name_not_for_trigger": 1, "not_managed_by_service": 1},
    }
    assert cli_adopt(capsys, "--dry-run") == {**expected, "dry_run": True}
    assert tags(alices) == {"managed-by": "workflow_scheduler"}

    # The upgrade: the deployment runs the migrate function, which applies 0004 and then the adoption.
    upgrade_database(fresh.database_url)
    result = migrate()
    assert result["applied"] == ["0004_one_time_tasks"]
    assert result["tasks"] == {"adopt_legacy_secret_tags": {**expected, "dry_run": False}}
    assert tags(alices) == {
        "managed-by": "workflow_scheduler",
        OWNER_TAG: "alice",
        WORKFLOW_TAG: "wf-alice",
        TRIGGER_TAG: "hook",
    }
    assert {name: tags(name) for name in (bobs, daves, erins)} == untouched

    after = load_handler_module("webhook", fresh=True)  # the new webhook function, deployed after the trigger
    assert call_signed(after, "/webhook/alice/orders", SIGNING).status == 202
    assert call_signed(after, "/webhook/bob/orders", "bob-key").status == 503  # another owner's tag: still refused
    assert call_signed(after, "/webhook/carol/orders", "dave-key").status == 503

    # Recorded: the next deployment's migrate run does nothing; by hand, it finds nothing left to tag.
    assert recorded_tasks(fresh.database_url) == [("adopt_legacy_secret_tags", {**expected, "dry_run": False})]
    assert migrate() == {"applied": [], "tasks": {}}
    assert cli_adopt(capsys)["tagged"] == 0
    assert tags(alices)[OWNER_TAG] == "alice" and {name: tags(name) for name in (bobs, daves, erins)} == untouched


def test_a_secrets_manager_failure_part_way_is_not_recorded_and_the_next_run_finishes(
    fresh: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    for workflow_id in ("wf-one", "wf-two"):
        fresh.deploy(workflow_id, signed_webhook("hook", f"{workflow_id}/in", secret=SIGNING))
        make_legacy(as_legacy(fresh.database_url, workflow_id, "hook"))
    upgrade_database(fresh.database_url)

    real_tag, calls = SecretsManagerStore.tag, []

    def throttled_on_second(self: SecretsManagerStore, name: str, new_tags: dict[str, str]) -> None:
        calls.append(name)
        if len(calls) == 2:
            raise RegistrationFailed(f"cannot tag secret {name!r}: ThrottlingException")
        real_tag(self, name, new_tags)

    monkeypatch.setattr(SecretsManagerStore, "tag", throttled_on_second)
    with pytest.raises(RegistrationFailed):
        migrate()  # fails the deployment (CloudFormation rolls back to the release that does not need the tags)
    assert recorded_tasks(fresh.database_url) == []
    assert OWNER_TAG in tags("workflow-scheduler/webhooks/wf-one/hook")
    assert OWNER_TAG not in tags("workflow-scheduler/webhooks/wf-two/hook")

    monkeypatch.setattr(SecretsManagerStore, "tag", real_tag)
    result = migrate()  # the next deployment
    report = {"scanned": 2, "tagged": 1, "skipped": {"has_owner_tag": 1}, "dry_run": False}
    assert result == {"applied": [], "tasks": {"adopt_legacy_secret_tags": report}}
    assert tags("workflow-scheduler/webhooks/wf-two/hook")[OWNER_TAG] == "alice"
    assert recorded_tasks(fresh.database_url) == [("adopt_legacy_secret_tags", report)]


def test_the_index_is_read_in_keyset_pages_only_for_managed_references(fresh: System) -> None:
    for n in range(3):
        boto3.client("secretsmanager").create_secret(
            Name=f"team/hook-{n}", SecretString=SIGNING, Tags=[{"Key": OWNER_TAG, "Value": f"user-{n}"}]
        )
        fresh.deploy(
            f"wf-{n}",
            signed_webhook("a", f"p{n}/a", secret=SIGNING),
            signed_webhook("b", f"p{n}/b", secret=SIGNING),
            signed_webhook("own", f"p{n}/own", secret_ref=f"team/hook-{n}"),  # the user's own secret: not scanned
            user=f"user-{n}",
        )
    db = Database(fresh.database_url)
    for n in range(3):
        for trigger_id in ("a", "b"):
            as_legacy(fresh.database_url, f"wf-{n}", trigger_id)
    rows = list(PostgresDeploymentStore(db).webhook_secret_refs(LEGACY_PREFIX, page_size=2))
    assert rows == [
        SecretReference(f"wf-{n}", t, f"user-{n}", f"workflow-scheduler/webhooks/wf-{n}/{t}")
        for n in range(3)
        for t in ("a", "b")
    ]
    assert db.statements == 4  # three full pages of two, then an empty one
    db.close()
