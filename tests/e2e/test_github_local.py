"""GitHub App deliveries on the local system (``make dev``): signed over HTTP to ``/webhooks/github``, routed in-process
from the github events queue, fired at the engine stub.

Two systems: one of its own with the App's credentials and ``GITHUB_API_URL`` pointing at a fake GitHub on loopback
(``tests/support/fake_github.py``), and the one the e2e modules share, which has no App credentials.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import new_database
from tests.e2e.local_system import LocalSystem, start_system
from tests.support.fake_github import APP_PRIVATE_KEY, FakeGithub, FakePull
from tests.support.github_fakes import fixture
from workflow_scheduler.domain.firing import execution_id_for
from workflow_scheduler.domain.triggers.github.router import NO_CREDENTIALS
from workflow_scheduler.local.dev import LOCAL_GITHUB_WEBHOOK_SECRET

pytestmark = pytest.mark.e2e

REPO = "Codertocat/Hello-World"  # the fixtures' repository
INSTALLATION = 1
EVENTS = Path(__file__).resolve().parents[2] / "events" / "github"


@pytest.fixture(scope="module")
def github() -> Iterator[FakeGithub]:
    fake = FakeGithub(installations={INSTALLATION: {REPO}})
    pull_request = fixture("pull_request/opened.payload.json")["pull_request"]
    files = [{"filename": "src/app.py", "status": "modified"}, {"filename": "README.md", "status": "added"}]
    fake.add_pull(REPO, pull_request["number"], FakePull(pull_request, files, diff="diff --git a/src/app.py\n+x\n"))
    with fake.serving():
        yield fake


def link(system: LocalSystem) -> None:
    """An operator's step: alice may use the installation (without it her deploys are refused)."""
    linked = system.cli("github", "link", str(INSTALLATION), "--owner", "alice")
    assert linked.returncode == 0, linked.stderr


@pytest.fixture(scope="module")
def with_app(tmp_path_factory: pytest.TempPathFactory, github: FakeGithub) -> Iterator[LocalSystem]:
    credentials = {
        "GITHUB_APP_ID": github.app_id,
        "GITHUB_APP_PRIVATE_KEY": APP_PRIVATE_KEY,
        "GITHUB_API_URL": github.url,
    }
    with new_database() as database:
        local = start_system(tmp_path_factory.mktemp("github") / "state", DATABASE_URL=database, **credentials)
        try:
            link(local)
            yield local
        finally:
            assert local.stop() == 0, local.output()


@pytest.fixture(scope="module")
def without_app(system: LocalSystem) -> LocalSystem:
    assert "no App credentials" in system.output()
    link(system)
    return system


def headers(system: LocalSystem) -> dict[str, str]:
    return {"Authorization": f"Bearer {system.token('alice')}"}


def github_node(node_id: str = "gh", **parameters: Any) -> dict[str, Any]:
    parameters = {"github_app_installation_id": INSTALLATION, "repository": REPO, "events": ["push"], **parameters}
    return {"id": node_id, "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_GITHUB", "parameters": parameters}


def deploy(system: LocalSystem, **parameters: Any) -> str:
    """A new workflow with one GitHub trigger ``gh``; its id."""
    workflow_id = f"wf-{uuid.uuid4().hex[:8]}"
    response = requests.post(
        f"{system.base_url}/v1/workflows/{workflow_id}/deploy",
        json={"workflow_spec": {"name": "github", "nodes": [github_node(**parameters)]}},
        headers=headers(system),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return workflow_id


def deliver(
    system: LocalSystem, event: str, payload: dict[str, Any], secret: str = LOCAL_GITHUB_WEBHOOK_SECRET
) -> tuple[str, requests.Response]:
    """POST a delivery as GitHub signs it; its delivery id and the answer."""
    delivery_id = str(uuid.uuid4())
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    sent = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery_id, "X-Hub-Signature-256": signature}
    response = requests.post(f"{system.base_url}/webhooks/github", data=body, headers=sent, timeout=10)
    return delivery_id, response


def routed(system: LocalSystem, delivery_id: str) -> None:
    """Wait until the router has routed the delivery (its firings are queued or refused by then)."""
    assert system.wait_for_output(rf"github_delivery_routed delivery_id={delivery_id}"), system.output()


def executions(system: LocalSystem, execution_ids: set[str], timeout: float = 15) -> list[dict[str, Any]]:
    """The engine stub's execute calls, once every one of ``execution_ids`` reached it."""
    deadline = time.monotonic() + timeout
    while True:
        calls = requests.get(f"{system.base_url}/_local/executions", timeout=10).json()["executions"]
        if execution_ids <= {c["execution_id"] for c in calls}:
            return list(calls)
        if time.monotonic() > deadline:
            pytest.fail(f"{execution_ids} did not reach the engine stub:\n{system.output()}")
        time.sleep(0.1)


def firings(system: LocalSystem, workflow_id: str) -> list[dict[str, Any]]:
    url = f"{system.base_url}/v1/workflows/{workflow_id}/events"
    response = requests.get(url, headers=headers(system), timeout=10)
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def push(repository: str) -> dict[str, Any]:
    """A push to master adding README.md, from the App's installation, in ``repository``."""
    payload = copy.deepcopy(fixture("push/with-new-branch.payload.json"))
    payload["installation"] = {"id": INSTALLATION}
    payload["repository"]["full_name"] = repository
    return payload


def test_signed_deliveries_fire_the_matching_workflows_and_no_other(with_app: LocalSystem) -> None:
    repository = f"Codertocat/matching-{uuid.uuid4().hex[:6]}"
    readme = deploy(with_app, repository=repository, paths=["**.md"])
    master = deploy(with_app, repository=repository.upper(), branches=["master"])  # GitHub ignores the case
    main = deploy(with_app, repository=repository, branches=["main"])
    issues = deploy(with_app, repository=repository, events=["issues"])
    elsewhere = deploy(with_app, repository=f"{repository}-other")

    delivery_id, response = deliver(with_app, "push", push(repository))

    assert (response.status_code, response.json()) == (202, {"status": "accepted", "delivery_id": delivery_id})
    routed(with_app, delivery_id)
    expected = {execution_id_for(w, "gh", delivery_id): w for w in (readme, master)}
    calls = [c for c in executions(with_app, set(expected)) if c["trigger"]["data"]["delivery_id"] == delivery_id]
    assert sorted(c["workflow_id"] for c in calls) == sorted(expected.values())
    assert {c["execution_id"] for c in calls} == set(expected)
    data = calls[0]["trigger"]["data"]
    assert (data["event"], data["repository"], data["ref"], data["sender"]) == (
        "push",
        repository,
        "refs/heads/master",
        "Codertocat",
    )
    for workflow_id in (main, issues, elsewhere):
        assert firings(with_app, workflow_id) == []  # not a match is not a firing


def test_the_same_delivery_again_fires_nothing(with_app: LocalSystem) -> None:
    repository = f"Codertocat/again-{uuid.uuid4().hex[:6]}"
    workflow_id = deploy(with_app, repository=repository)
    payload = push(repository)
    delivery_id, first = deliver(with_app, "push", payload)
    assert first.status_code == 202
    execution_id = execution_id_for(workflow_id, "gh", delivery_id)
    executions(with_app, {execution_id})

    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(LOCAL_GITHUB_WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    redelivered = requests.post(  # GitHub's redelivery keeps X-GitHub-Delivery
        f"{with_app.base_url}/webhooks/github",
        data=body,
        headers={"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery_id, "X-Hub-Signature-256": signature},
        timeout=10,
    )

    assert (redelivered.status_code, redelivered.json()["status"]) == (200, "duplicate")
    assert [f["execution_id"] for f in firings(with_app, workflow_id)] == [execution_id]
    calls = [c for c in executions(with_app, {execution_id}) if c["execution_id"] == execution_id]
    assert len(calls) == 1


def test_a_bad_signature_is_401_and_fires_nothing(with_app: LocalSystem) -> None:
    repository = f"Codertocat/unsigned-{uuid.uuid4().hex[:6]}"
    workflow_id = deploy(with_app, repository=repository)
    _, response = deliver(with_app, "push", push(repository), secret="not the App's secret")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_signature"
    assert firings(with_app, workflow_id) == []


def test_the_sample_events_are_signed_with_the_local_secret(with_app: LocalSystem) -> None:
    for name, status in (("push", 202), ("pull_request", 202), ("ping", 200)):
        sample = json.loads((EVENTS / f"{name}.json").read_text())
        sent = {k: v for k, v in sample["headers"].items() if k.lower().startswith(("x-github", "x-hub"))}
        sent["X-GitHub-Delivery"] = str(uuid.uuid4())  # the samples' own ids may have been sent here before
        body = base64.b64decode(sample["body"])
        response = requests.post(f"{with_app.base_url}/webhooks/github", data=body, headers=sent, timeout=10)
        assert response.status_code == status, (name, response.text)


def test_pull_request_path_filters_decide_with_the_app_api(with_app: LocalSystem, github: FakeGithub) -> None:
    source = deploy(with_app, events=["pull_request"], paths=["src/**"])
    docs = deploy(with_app, events=["pull_request"], paths=["docs/**"])
    not_markdown = deploy(with_app, events=["pull_request"], paths_ignore=["**.md"])

    delivery_id, response = deliver(with_app, "pull_request", fixture("pull_request/opened.payload.json"))

    assert response.status_code == 202
    routed(with_app, delivery_id)
    expected = {execution_id_for(w, "gh", delivery_id): w for w in (source, not_markdown)}
    calls = [c for c in executions(with_app, set(expected)) if c["execution_id"] in expected]
    assert sorted(c["workflow_id"] for c in calls) == sorted(expected.values())
    enrichment = calls[0]["trigger"]["data"]["enrichment"]
    assert [f["filename"] for f in enrichment["files"]] == ["src/app.py", "README.md"]  # from the fake GitHub
    assert firings(with_app, docs) == []


def test_without_app_credentials_a_path_filter_firing_is_refused_with_the_reason(without_app: LocalSystem) -> None:
    paths = deploy(without_app, events=["pull_request"], paths=["src/**"])
    plain = deploy(without_app, events=["pull_request"])

    delivery_id, response = deliver(without_app, "pull_request", fixture("pull_request/opened.payload.json"))

    assert response.status_code == 202
    routed(without_app, delivery_id)
    plain_execution = execution_id_for(plain, "gh", delivery_id)
    assert plain_execution in {c["execution_id"] for c in executions(without_app, {plain_execution})}
    (refused,) = firings(without_app, paths)
    assert (refused["status"], refused["error"]) == ("refused", NO_CREDENTIALS)
    assert refused["execution_id"] == execution_id_for(paths, "gh", delivery_id)


def test_deploy_refuses_invalid_patterns_and_shows_the_trigger(with_app: LocalSystem) -> None:
    url = f"{with_app.base_url}/v1/workflows/wf-{uuid.uuid4().hex[:8]}/deploy"
    spec = {"name": "bad", "nodes": [github_node(branches=["main", "release/v[0-9"], branches_ignore=["x"])]}
    response = requests.post(url, json={"workflow_spec": spec}, headers=headers(with_app), timeout=10)
    assert response.status_code == 422, response.text
    problems = {(p["node_id"], p["field"]): p["message"] for p in response.json()["problems"]}
    assert problems[("gh", "parameters.branches.1")] == "pattern 'release/v[0-9': '[' at position 9 has no closing ']'"
    assert "not both" in problems[("gh", "parameters.branches_ignore")]

    workflow_id = deploy(with_app, events=["push", "release"])
    view = requests.get(
        f"{with_app.base_url}/v1/workflows/{workflow_id}/triggers", headers=headers(with_app), timeout=10
    )
    (trigger,) = view.json()["triggers"]
    assert (trigger["type"], trigger["repository"], trigger["events"], trigger["github_app_installation_id"]) == (
        "github",
        REPO,
        ["push", "release"],
        INSTALLATION,
    )
