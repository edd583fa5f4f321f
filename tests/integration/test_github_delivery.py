"""GitHub deliveries end to end in-process: the github function, the events queue (moto), the router and the sweep
against real PostgreSQL, with a fake GitHub REST API on loopback (tests/support/fake_github.py)."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import boto3
import psycopg
import pytest

from tests.integration.conftest import Stack
from tests.support.events import load_event
from tests.support.fake_github import APP_PRIVATE_KEY, FakeGithub, FakePull
from tests.support.github_fakes import SECRET, fixture, github_trigger, signed
from tests.support.queues import take_messages
from workflow_scheduler.adapters.deployment_store import PostgresDeploymentStore
from workflow_scheduler.adapters.firing_store import GITHUB_CANDIDATES, PostgresFiringStore
from workflow_scheduler.adapters.github_store import PostgresGithubStore
from workflow_scheduler.adapters.postgres import Database
from workflow_scheduler.domain.deployments import DeploymentService
from workflow_scheduler.domain.firing import ByGithubEvent, execution_id_for
from workflow_scheduler.domain.models import Deployment, DeploymentStatus, TriggerRecord
from workflow_scheduler.domain.triggers.github.deliveries import DeliveryStatus, InstallationState
from workflow_scheduler.domain.triggers.github.router import NO_CREDENTIALS
from workflow_scheduler.local.invoke import LocalContext
from workflow_scheduler.settings import GithubRouterSettings
from workflow_scheduler.wiring import deployment_service

pytestmark = pytest.mark.integration

REPO = "Codertocat/Hello-World"
INSTALLATION = 1


@dataclass
class System:
    stack: Stack
    github: FakeGithub
    ingress: ModuleType
    events_queue: str
    store: PostgresGithubStore
    targets: PostgresFiringStore
    deployments: DeploymentService
    deployment_store: PostgresDeploymentStore

    # -- GitHub's side --

    def deliver(
        self, event: str, payload: dict[str, Any], delivery_id: str, secret: str = SECRET
    ) -> tuple[int, dict[str, Any]]:
        request = signed(event, payload, delivery_id, secret=secret)
        sample = load_event("github", "push")
        headers = {k: v for k, v in sample["headers"].items() if not k.lower().startswith(("x-github", "x-hub"))}
        headers.update({"X-GitHub-Event": event, "X-GitHub-Delivery": delivery_id})
        headers["X-Hub-Signature-256"] = request.headers["x-hub-signature-256"]
        sample.update(headers=headers, multiValueHeaders={k: [v] for k, v in headers.items()})
        sample["body"], sample["isBase64Encoded"] = base64.b64encode(request.body).decode(), True
        result = self.ingress.lambda_handler(sample, LocalContext(function_name="github"))
        return result["statusCode"], json.loads(result["body"])

    # -- the router's side --

    def queued(self) -> list[dict[str, Any]]:
        """The events queue's messages, as the SQS event source hands them to the router (then deleted)."""
        sqs = boto3.client("sqs")
        records = []
        while batch := sqs.receive_message(
            QueueUrl=self.events_queue, MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", []):
            for message in batch:
                records.append(sqs_record(message["Body"], int(message["Attributes"]["ApproximateReceiveCount"])))
                sqs.delete_message(QueueUrl=self.events_queue, ReceiptHandle=message["ReceiptHandle"])
        return records

    def route(self, router: ModuleType, records: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        batch = {"Records": self.queued() if records is None else records}
        result: dict[str, Any] = router.lambda_handler(batch, LocalContext(function_name="github_router"))
        return result

    def dispatched(self) -> list[dict[str, Any]]:
        return take_messages(self.stack.queue_url)

    def firings(self) -> list[tuple[Any, ...]]:
        """(workflow_id, execution_id, status, claimed, error) of every firing recorded."""
        with psycopg.connect(self.stack.database_url) as conn:
            return conn.execute(
                "SELECT workflow_id, execution_id, status, claimed, error FROM trigger_events ORDER BY fired_at"
            ).fetchall()

    def deploy(self, *records: TriggerRecord) -> None:
        """Deploy each workflow's GitHub triggers (their parameters) through the deployment service, as the API does."""
        workflows: dict[str, list[dict[str, Any]]] = {}
        for r in records:
            node = {"id": r.trigger_id, "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_GITHUB"}
            workflows.setdefault(r.workflow_id, []).append(node | {"parameters": r.config})
        for workflow_id, nodes in workflows.items():
            self.deployments.deploy(workflow_id, "alice", {"name": workflow_id, "nodes": nodes})

    def insert(self, *records: TriggerRecord) -> None:
        """Trigger index rows straight through the deployment store (thousands, faster than deploying each)."""
        now = datetime.now(UTC)
        with self.deployment_store.transaction() as tx:
            for workflow_id in sorted({r.workflow_id for r in records}):
                tx.save_deployment(
                    Deployment(workflow_id, _uuid(workflow_id), "alice", {}, 1, DeploymentStatus.DEPLOYED, now, now)
                )
            for record in records:
                tx.insert_trigger(record)


def sqs_record(body: str, receive_count: int = 1) -> dict[str, Any]:
    record: dict[str, Any] = copy.deepcopy(load_event("github_router", "batch")["Records"][0])
    record["body"] = body
    record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
    return record


def _uuid(text: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, text))


def push() -> dict[str, Any]:
    """A push to master adding README.md, from installation 1."""
    payload = fixture("push/with-new-branch.payload.json")
    payload["installation"] = {"id": INSTALLATION}
    return payload


@pytest.fixture(scope="module")
def github() -> Iterator[FakeGithub]:
    fake = FakeGithub(installations={INSTALLATION: {REPO}})
    pr = fixture("pull_request/opened.payload.json")["pull_request"]
    files = [{"filename": "src/app.py", "status": "modified"}, {"filename": "README.md", "status": "added"}]
    fake.add_pull(REPO, 2, FakePull(pr, files, diff="diff --git a/src/app.py b/src/app.py\n+x\n"))
    for commit in push()["commits"]:
        fake.commits[(REPO, commit["id"])] = {"sha": commit["id"], "commit": {"message": commit["message"]}}
    with fake.serving():
        yield fake


@pytest.fixture(scope="module")
def system(stack: Stack, github: FakeGithub) -> System:
    events_queue = boto3.client("sqs").create_queue(QueueName="github-events")["QueueUrl"]
    stack.env.setenv("GITHUB_WEBHOOK_SECRET", SECRET)
    stack.env.setenv("GITHUB_EVENTS_QUEUE_URL", events_queue)
    db = Database(stack.database_url)
    return System(
        stack,
        github,
        stack.load("github"),
        events_queue,
        PostgresGithubStore(db),
        PostgresFiringStore(db),
        deployment_service(db),
        PostgresDeploymentStore(db),
    )


@pytest.fixture
def with_app(system: System, github: FakeGithub) -> Iterator[ModuleType]:
    """The router with the App's credentials, calling the fake GitHub."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GITHUB_APP_ID", github.app_id)
        env.setenv("GITHUB_APP_PRIVATE_KEY", APP_PRIVATE_KEY)
        env.setenv("GITHUB_API_URL", github.url)
        yield system.stack.load("github_router")


@pytest.fixture
def without_app(system: System) -> ModuleType:
    for name in ("GITHUB_APP_ID", "GITHUB_APP_PRIVATE_KEY", "GITHUB_APP_PRIVATE_KEY_SECRET_ARN"):
        system.stack.env.delenv(name, raising=False)
    return system.stack.load("github_router")


@pytest.fixture
def fresh(system: System, clean_database: str) -> System:
    with psycopg.connect(clean_database, autocommit=True) as conn:
        conn.execute("TRUNCATE github_webhook_events, github_installations")
        # alice's triggers may use the installation (tests/integration/test_github_tenancy.py: without it, refused)
        conn.execute(
            "INSERT INTO github_installation_owners (installation_id, owner) VALUES (%s, 'alice')"
            " ON CONFLICT DO NOTHING",
            (INSTALLATION,),
        )
    system.queued()
    system.dispatched()
    system.github.redelivered.clear()
    return system


def test_a_signed_delivery_fires_the_matching_triggers_only(fresh: System, with_app: ModuleType) -> None:
    fresh.deploy(
        github_trigger("wf-readme", paths=["**.md"]),
        github_trigger("wf-main", branches=["main"]),
        github_trigger("wf-issues", events=["issues"]),
    )
    status, body = fresh.deliver("push", push(), "d-1")
    assert (status, body) == (202, {"status": "accepted", "delivery_id": "d-1"})

    assert fresh.route(with_app) == {"batchItemFailures": []}

    (message,) = fresh.dispatched()
    assert (message["workflow_id"], message["trigger_type"]) == ("wf-readme", "github")
    assert message["execution_id"] == execution_id_for("wf-readme", "gh", "d-1")
    data = message["data"]
    assert (data["event"], data["repository"], data["ref"], data["sender"]) == (
        "push",
        REPO,
        "refs/heads/master",
        "Codertocat",
    )
    assert data["payload"]["after"] == push()["after"]
    assert data["enrichment"]["commits"][0]["message"] == push()["commits"][0]["message"]  # from the fake API
    assert [(w, s) for w, _, s, _, _ in fresh.firings()] == [("wf-readme", "queued")]  # a miss is not a firing

    record = fresh.store.recorded_delivery("d-1")
    assert record is not None
    assert (record.delivery.status, record.candidates, record.matched) == (DeliveryStatus.ROUTED, 2, 1)
    assert record.outcomes is not None
    outcomes = {o["workflow_id"]: o["outcome"] for o in record.outcomes["triggers"]}
    assert outcomes == {"wf-main": "not_matched", "wf-readme": "queued"}
    assert record.delivery.body is None  # the payload is not kept once routed


def test_a_delivery_that_matches_nothing_is_visible_in_its_record(fresh: System, with_app: ModuleType) -> None:
    fresh.deliver("push", push(), "d-none")
    fresh.route(with_app)
    record = fresh.store.recorded_delivery("d-none")
    assert record is not None and (record.candidates, record.matched) == (0, 0)
    assert record.note == f"no GitHub trigger listens to push on {REPO}"
    assert fresh.dispatched() == []


def test_the_same_delivery_again_fires_nothing(fresh: System, with_app: ModuleType) -> None:
    fresh.deploy(github_trigger("wf-any"))
    fresh.deliver("push", push(), "d-1")
    fresh.route(with_app)
    assert len(fresh.dispatched()) == 1

    status, body = fresh.deliver("push", push(), "d-1")  # GitHub's redelivery: the same X-GitHub-Delivery

    assert (status, body["status"]) == (200, "duplicate")
    assert fresh.queued() == [] and fresh.dispatched() == []


def test_a_bad_signature_is_401_and_nothing_is_recorded(fresh: System) -> None:
    status, body = fresh.deliver("push", push(), "d-bad", secret="not the App's secret")
    assert (status, body["error"]) == (401, "invalid_signature")
    assert fresh.store.recorded_delivery("d-bad") is None
    assert fresh.queued() == []


def test_ping_is_200(fresh: System) -> None:
    status, body = fresh.deliver("ping", fixture("ping/payload.json"), "p-1")
    assert (status, body["status"]) == (200, "pong")


def test_a_queue_retry_after_the_firings_is_one_execution_per_trigger(
    fresh: System, with_app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh.deploy(github_trigger("wf-a"), github_trigger("wf-b"))
    fresh.deliver("push", push(), "d-1")
    (record,) = fresh.queued()
    routed = PostgresGithubStore.mark_routed

    def lost(self: PostgresGithubStore, *args: Any) -> None:
        from workflow_scheduler.domain.errors import StoreUnavailable

        raise StoreUnavailable("the database connection failed; try again")

    monkeypatch.setattr(PostgresGithubStore, "mark_routed", lost)  # the firings went out, the record did not
    assert fresh.route(with_app, [record]) == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    monkeypatch.setattr(PostgresGithubStore, "mark_routed", routed)

    fresh.route(with_app, [sqs_record(record["body"], receive_count=2)])  # the queue delivers it again
    fresh.deliver("push", push(), "d-1")  # and GitHub redelivers it

    dispatched = fresh.dispatched()
    assert sorted(m["workflow_id"] for m in dispatched) == ["wf-a", "wf-b"]
    claimed = [(w, s) for w, _, s, c, _ in fresh.firings() if c]
    assert sorted(claimed) == [("wf-a", "queued"), ("wf-b", "queued")]
    recorded = fresh.store.recorded_delivery("d-1")
    assert recorded is not None and recorded.delivery.status is DeliveryStatus.ROUTED and recorded.attempts == 1


def test_pull_request_path_filters_decide_with_the_app_api(fresh: System, with_app: ModuleType) -> None:
    fresh.deploy(
        github_trigger("wf-src", events=["pull_request"], paths=["src/**"]),
        github_trigger("wf-docs", events=["pull_request"], paths=["docs/**"]),
        github_trigger("wf-not-md", events=["pull_request"], paths_ignore=["**.md"]),
    )
    fresh.github.requests.clear()
    fresh.deliver("pull_request", fixture("pull_request/opened.payload.json"), "d-pr")
    fresh.route(with_app)

    dispatched = fresh.dispatched()
    assert sorted(m["workflow_id"] for m in dispatched) == ["wf-not-md", "wf-src"]
    files_calls = [path for method, path in fresh.github.requests if "/pulls/2/files" in path]
    assert len(files_calls) == 1  # once for the delivery
    enrichment = dispatched[0]["data"]["enrichment"]
    assert [f["filename"] for f in enrichment["files"]] == ["src/app.py", "README.md"]
    assert enrichment["diff"].startswith("diff --git")


def test_without_app_credentials_a_path_filter_firing_is_refused_with_the_reason(
    fresh: System, without_app: ModuleType
) -> None:
    fresh.deploy(
        github_trigger("wf-paths", events=["pull_request"], paths=["src/**"]),
        github_trigger("wf-plain", events=["pull_request"]),
    )
    fresh.deliver("pull_request", fixture("pull_request/opened.payload.json"), "d-pr")
    fresh.route(without_app)

    assert [m["workflow_id"] for m in fresh.dispatched()] == ["wf-plain"]
    refused = [(w, e, s, err) for w, e, s, _, err in fresh.firings() if s == "refused"]
    assert refused == [("wf-paths", execution_id_for("wf-paths", "gh", "d-pr"), "refused", NO_CREDENTIALS)]


def test_a_suspended_installation_fires_nothing(fresh: System, with_app: ModuleType) -> None:
    fresh.deploy(github_trigger("wf-any"))
    created = fixture("installation/created.payload.json")
    created["installation"]["id"] = INSTALLATION
    suspend = fixture("installation/suspend.payload.json")
    suspend["installation"]["id"] = INSTALLATION

    assert fresh.deliver("installation", created, "i-1")[0] == 202
    installation = fresh.store.installation(INSTALLATION)
    assert installation is not None and installation.state is InstallationState.ACTIVE
    assert installation.repositories == (REPO,)
    fresh.deliver("installation", suspend, "i-2")
    fresh.deliver("push", push(), "d-1")
    fresh.route(with_app)

    assert fresh.dispatched() == []
    record = fresh.store.recorded_delivery("d-1")
    assert record is not None and record.note == f"installation {INSTALLATION} is suspended: nothing fires"


def test_installation_repositories_events_keep_the_list_current(fresh: System) -> None:
    added = fixture("installation_repositories/added.payload.json")
    fresh.deliver("installation_repositories", added, "r-1")
    removed = copy.deepcopy(added)
    removed.update(action="removed", repositories_added=[], repositories_removed=added["repositories_added"])
    installation = fresh.store.installation(added["installation"]["id"])
    assert installation is not None and installation.repositories == ("Codertocat/Space",)
    fresh.deliver("installation_repositories", removed, "r-2")
    installation = fresh.store.installation(added["installation"]["id"])
    assert installation is not None and installation.repositories == ()
    assert installation.state is InstallationState.ACTIVE  # never seen created: taken as active


def test_the_sweep_redelivers_only_failed_deliveries_never_recorded(fresh: System, github: FakeGithub) -> None:
    fresh.deliver("push", push(), "recorded-guid")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    github.deliveries = [
        {"id": 4, "guid": "ok-guid", "status_code": 202, "delivered_at": now},
        {"id": 3, "guid": "recorded-guid", "status_code": 502, "delivered_at": now},  # our answer was lost
        {"id": 2, "guid": "failed-guid", "status_code": 503, "delivered_at": now},
        {"id": 1, "guid": "too-large-guid", "status_code": 413, "delivered_at": now},
    ]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GITHUB_APP_ID", github.app_id)
        env.setenv("GITHUB_APP_PRIVATE_KEY", APP_PRIVATE_KEY)
        env.setenv("GITHUB_API_URL", github.url)
        sweep = fresh.stack.load("github_redelivery")
    report = sweep.lambda_handler({}, LocalContext(function_name="github_redelivery"))
    assert github.redelivered == [2]
    assert (report["redelivered"], report["futile"], report["recorded"]) == (["failed-guid"], ["too-large-guid"], 1)


def test_the_candidate_query_is_one_indexed_lookup(fresh: System) -> None:
    records = [
        github_trigger(f"wf-{i}", repository=f"owner-{i % 400}/repo", events=["push", "pull_request"][: 1 + i % 2])
        for i in range(4000)
    ]
    fresh.insert(*records)
    with psycopg.connect(fresh.stack.database_url, autocommit=True) as conn:
        conn.execute("ANALYZE trigger_index")
        conn.execute("ANALYZE deployments")
        plan = conn.execute(
            "EXPLAIN (FORMAT JSON) " + GITHUB_CANDIDATES, {"repository": "owner-7/repo", "event": "pull_request"}
        ).fetchone()
    assert plan is not None
    nodes = list(_plan_nodes(plan[0][0]["Plan"]))
    on_triggers = [n for n in nodes if n.get("Relation Name") == "trigger_index"]
    assert on_triggers and all(n["Node Type"] != "Seq Scan" for n in on_triggers)
    assert {n.get("Index Name") for n in nodes} & {"idx_github_repository", "idx_github_events"}
    found = fresh.targets.targets(ByGithubEvent("OWNER-7/Repo", "pull_request"))
    assert {c.trigger.workflow_id for c in found} == {f"wf-{i}" for i in range(4000) if i % 400 == 7 and i % 2}


def _plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


def test_a_message_that_is_not_ours_is_dropped_not_retried(fresh: System, with_app: ModuleType) -> None:
    assert fresh.route(with_app, [sqs_record("not json")]) == {"batchItemFailures": []}
    assert fresh.dispatched() == []


def test_a_delivery_not_recorded_yet_is_retried_until_the_last_receive(fresh: System, with_app: ModuleType) -> None:
    """The message is sent just before the record commits; a record rolled back after the send never appears."""
    early = sqs_record(json.dumps({"delivery_id": "not-yet"}))
    assert fresh.route(with_app, [early]) == {"batchItemFailures": [{"itemIdentifier": early["messageId"]}]}
    receives = GithubRouterSettings.model_fields["github_router_max_receives"].default
    last = sqs_record(json.dumps({"delivery_id": "not-yet"}), receive_count=receives)
    assert fresh.route(with_app, [last]) == {"batchItemFailures": []}
    assert fresh.dispatched() == []
