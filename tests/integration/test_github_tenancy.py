"""GitHub App installations are tenants' data, on real PostgreSQL: the operator links an installation to its users
with the CLI; the API refuses a trigger on an installation not linked to the caller; the router fires only the
triggers of owners still linked to the delivery's installation (issue 9, tenancy)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from tests.integration.conftest import Stack
from tests.support.api import ApiClient, deploy_body
from tests.support.github_fakes import fixture
from workflow_scheduler.adapters.github_store import PostgresGithubStore
from workflow_scheduler.adapters.postgres import Database
from workflow_scheduler.cli import main
from workflow_scheduler.domain.triggers.github.deliveries import Delivery
from workflow_scheduler.domain.triggers.github.router import GithubRouter
from workflow_scheduler.settings import GithubRouterSettings
from workflow_scheduler.wiring import github_router

pytestmark = pytest.mark.integration

REPO = "Codertocat/Hello-World"
INSTALLATION = 1


@dataclass
class System:
    api: ApiClient
    store: PostgresGithubStore
    router: GithubRouter
    database_url: str

    def deploy(self, user: str, workflow_id: str, installation: int = INSTALLATION) -> Any:
        node = {
            "id": "gh",
            "node_type": "TRIGGER_NODE",
            "subtype": "TRIGGER_GITHUB",
            "parameters": {"github_app_installation_id": installation, "repository": REPO, "events": ["push"]},
        }
        return self.api.call("deploy", workflow_id, deploy_body(node, name=workflow_id), user=user)

    def route_push(self, delivery_id: str) -> dict[str, tuple[str, str | None]]:
        """A push from the installation, recorded as the github function records it, then routed."""
        payload = fixture("push/with-new-branch.payload.json") | {"installation": {"id": INSTALLATION}}
        body = json.dumps(payload)
        delivery = Delivery(delivery_id, "push", None, REPO, INSTALLATION, "Codertocat", body)
        with self.store.record(delivery, note=None, installation=None) as recorded:
            assert recorded
        summary = self.router.route(delivery_id)
        assert summary is not None
        return {o.workflow_id: (o.outcome, o.reason) for o in summary.outcomes}

    def history(self) -> list[tuple[str, str]]:
        with psycopg.connect(self.database_url) as conn:
            rows = conn.execute("SELECT workflow_id, status FROM trigger_events").fetchall()
        return [(w, s) for w, s in rows]


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    capsys.readouterr()  # the functions' logs so far
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def system(stack: Stack) -> System:
    db = Database(stack.database_url)
    return System(stack.api(), PostgresGithubStore(db), github_router(GithubRouterSettings()), stack.database_url)


@pytest.fixture
def fresh(system: System, clean_database: str) -> System:
    with psycopg.connect(clean_database, autocommit=True) as conn:
        conn.execute("TRUNCATE github_webhook_events, github_installations, github_installation_owners")
    return system


def test_a_deploy_needs_a_link_to_the_caller_and_anothers_link_does_not_help(
    fresh: System, capsys: pytest.CaptureFixture[str]
) -> None:
    nobodys = fresh.deploy("alice", "wf-alice")
    assert nobodys.status == 422 and nobodys.body["error"] == "github_installation_not_allowed"
    [problem] = nobodys.body["problems"]
    assert (problem["node_id"], problem["field"]) == ("gh", "parameters.github_app_installation_id")

    assert cli(capsys, "github", "link", str(INSTALLATION), "--owner", "bob")["changed"] is True
    bobs = fresh.deploy("alice", "wf-alice")
    assert (bobs.status, bobs.body) == (422, nobodys.body)  # nothing tells bob's installation from nobody's
    assert fresh.api.call("status", "wf-alice", user="alice").status == 404  # nothing was written

    assert cli(capsys, "github", "link", str(INSTALLATION), "--owner", "alice")["changed"] is True
    assert fresh.deploy("alice", "wf-alice").status == 200
    assert fresh.deploy("alice", "wf-alice", installation=2).status == 422  # an update is checked again


def test_the_cli_links_unlinks_and_lists(fresh: System, capsys: pytest.CaptureFixture[str]) -> None:
    cli(capsys, "github", "link", "7", "--owner", "alice")
    assert cli(capsys, "github", "link", "7", "--owner", "alice")["changed"] is False  # linked already
    cli(capsys, "github", "link", "8", "--owner", "alice")
    cli(capsys, "github", "link", "7", "--owner", "auth0|5f1c")

    listed = cli(capsys, "github", "links", "--installation", "7")["links"]
    assert [(link["installation_id"], link["owner"]) for link in listed] == [(7, "alice"), (7, "auth0|5f1c")]
    assert len(cli(capsys, "github", "links")["links"]) == 3

    unlinked = cli(capsys, "github", "unlink", "7", "--owner", "alice")
    assert unlinked == {"installation_id": 7, "owner": "alice", "linked": False, "changed": True}
    assert cli(capsys, "github", "unlink", "7", "--owner", "alice")["changed"] is False
    assert [link["owner"] for link in cli(capsys, "github", "links", "--installation", "7")["links"]] == ["auth0|5f1c"]


def test_firing_needs_the_owner_still_linked(fresh: System, capsys: pytest.CaptureFixture[str]) -> None:
    cli(capsys, "github", "link", str(INSTALLATION), "--owner", "alice")
    cli(capsys, "github", "link", str(INSTALLATION), "--owner", "bob")
    assert fresh.deploy("alice", "wf-alice").status == 200
    assert fresh.deploy("bob", "wf-bob").status == 200
    assert fresh.route_push("d-1") == {"wf-alice": ("queued", None), "wf-bob": ("queued", None)}

    cli(capsys, "github", "unlink", str(INSTALLATION), "--owner", "bob")
    outcomes = fresh.route_push("d-2")

    not_linked = f"the App installation {INSTALLATION} is not linked to the workflow's owner"
    assert outcomes == {"wf-alice": ("queued", None), "wf-bob": ("refused", not_linked)}
    assert sorted(fresh.history()) == [("wf-alice", "queued"), ("wf-alice", "queued"), ("wf-bob", "queued")]
    assert fresh.api.call("status", "wf-bob", user="bob").status == 200  # still deployed; it fires nothing
