"""The router's rules on fakes: only matching triggers fire, each once per delivery; changed files asked of GitHub
at most once; refused with the reason when GitHub cannot say; suspended installations fire nothing."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support.fakes import MemoryFiringStore, MemoryQueue
from tests.support.github_fakes import (
    FakeGithubApi,
    MemoryDeliveryQueue,
    MemoryGithubStore,
    fixture,
    github_trigger,
    signed,
)
from workflow_scheduler.domain.firing import FiringService, FiringTarget, execution_id_for
from workflow_scheduler.domain.models import DeploymentStatus, TriggerRecord
from workflow_scheduler.domain.triggers.github.api import GithubApiError, GithubRateLimited, GithubUnreachable
from workflow_scheduler.domain.triggers.github.deliveries import (
    Delivery,
    DeliveryStatus,
    InstallationChange,
    InstallationState,
)
from workflow_scheduler.domain.triggers.github.ingress import GithubIngress
from workflow_scheduler.domain.triggers.github.router import (
    NO_CREDENTIALS,
    GithubRouter,
    RoutingPostponed,
)

REPO = "Codertocat/Hello-World"


class World:
    """The store, the queues and the router, wired as the functions wire them."""

    def __init__(self, api: FakeGithubApi | None) -> None:
        self.store = MemoryGithubStore()
        self.store.links.add((1, "alice"))  # the owner of add_trigger's triggers (test_github_tenancy.py)
        self.events = MemoryDeliveryQueue()
        self.targets: list[FiringTarget] = []
        self.firing_store = MemoryFiringStore(self.targets)
        self.dispatch = MemoryQueue()
        self.ingress = GithubIngress(self.store, self.events, lambda: ["It's a Secret to Everybody"])
        service = FiringService(self.firing_store, self.dispatch)
        self.router = GithubRouter(self.store, self.firing_store, service, api, pause=lambda seconds: None)

    def add_trigger(self, record: TriggerRecord, status: DeploymentStatus = DeploymentStatus.DEPLOYED) -> None:
        self.targets.append(FiringTarget(status, "alice", record))

    def deliver(self, event: str, payload: dict[str, Any], delivery_id: str) -> str:
        self.ingress.receive(signed(event, payload, delivery_id))
        return delivery_id

    @property
    def fired(self) -> list[tuple[str, str]]:
        return [(e.workflow_id, e.trigger_id) for e, _ in self.dispatch.sent]


@pytest.fixture
def api() -> FakeGithubApi:
    return FakeGithubApi(pull_files={2: ["src/app.py", "README.md"]})


@pytest.fixture
def world(api: FakeGithubApi) -> World:
    return World(api)


def push() -> dict[str, Any]:
    """A push to master adding README.md, from installation 1."""
    payload = fixture("push/with-new-branch.payload.json")
    payload["installation"] = {"id": 1}
    return payload


def pull_request(action: str = "opened") -> dict[str, Any]:
    payload = copy.deepcopy(fixture("pull_request/opened.payload.json"))
    payload["action"] = action
    return payload


def test_only_matching_triggers_fire_once_each_with_the_event_as_data(world: World) -> None:
    world.add_trigger(github_trigger("wf-readme", paths=["**.md"]))
    world.add_trigger(github_trigger("wf-main", branches=["main"]))
    world.add_trigger(github_trigger("wf-any"))
    world.add_trigger(github_trigger("wf-other", repository="Codertocat/Other"))
    world.add_trigger(github_trigger("wf-issues", events=["issues"]))
    delivery_id = world.deliver("push", push(), "d-1")

    summary = world.router.route(delivery_id)

    assert summary is not None
    assert sorted(world.fired) == [("wf-any", "gh"), ("wf-readme", "gh")]
    assert (summary.candidates, summary.matched) == (3, 2)  # the index found the repository's push triggers
    not_matched = {o.workflow_id: o.reason for o in summary.outcomes if o.outcome == "not_matched"}
    assert not_matched == {"wf-main": "branch 'master' does not match branches"}
    assert [row for row in world.firing_store.rows if row[1] != "queued"] == []  # a miss is not a firing
    event = next(e for e, _ in world.dispatch.sent if e.workflow_id == "wf-any")
    assert event.execution_id == execution_id_for("wf-any", "gh", delivery_id)
    data = event.data
    assert (data["event"], data["action"], data["repository"], data["sender"]) == ("push", None, REPO, "Codertocat")
    assert data["ref"] == "refs/heads/master"
    assert data["payload"] == push()
    assert [c["sha"] for c in data["enrichment"]["commits"]] == [push()["commits"][0]["id"]]
    assert world.store.delivery(delivery_id).status is DeliveryStatus.ROUTED  # type: ignore[union-attr]


def test_a_delivery_that_matches_nothing_says_so_in_its_record(world: World) -> None:
    world.deliver("push", push(), "d-1")
    summary = world.router.route("d-1")
    assert summary is not None and summary.note == f"no GitHub trigger listens to push on {REPO}"
    assert world.store.rows["d-1"].summary == summary
    assert world.fired == []


def test_a_delivery_routed_before_is_not_routed_again(world: World) -> None:
    world.add_trigger(github_trigger("wf-any"))
    world.deliver("push", push(), "d-1")
    assert world.router.route("d-1") is not None
    assert world.router.route("d-1") is None  # the queue delivered the message twice
    assert len(world.fired) == 1


def test_a_retry_after_a_partial_routing_fires_the_rest_and_repeats_nothing(world: World) -> None:
    world.add_trigger(github_trigger("wf-a"))
    world.add_trigger(github_trigger("wf-b"))
    world.deliver("push", push(), "d-1")
    sends = world.dispatch.send

    def fail_on_b(event: Any, delay_seconds: int = 0) -> None:
        world.dispatch.fail = event.workflow_id == "wf-b"
        sends(event, delay_seconds)

    world.dispatch.send = fail_on_b  # type: ignore[method-assign]
    with pytest.raises(Exception, match="queue down"):
        world.router.route("d-1")
    assert world.store.rows["d-1"].delivery.status is DeliveryStatus.FAILED
    world.dispatch.send = sends  # type: ignore[method-assign]
    world.dispatch.fail = False

    summary = world.router.route("d-1")

    assert summary is not None
    assert {o.workflow_id: o.outcome for o in summary.outcomes} == {"wf-a": "duplicate", "wf-b": "queued"}
    assert sorted(world.fired) == [("wf-a", "gh"), ("wf-b", "gh")]  # one execution each


def test_pull_request_path_filters_decide_with_the_files_asked_once(world: World, api: FakeGithubApi) -> None:
    for name, paths in (("wf-src", ["src/**"]), ("wf-docs", ["docs/**"]), ("wf-md", ["**.md"])):
        world.add_trigger(github_trigger(name, events=["pull_request"], paths=paths))
    world.add_trigger(github_trigger("wf-no-paths", events=["pull_request"]))
    world.deliver("pull_request", pull_request(), "d-1")

    summary = world.router.route("d-1")

    assert summary is not None
    assert sorted(w for w, _ in world.fired) == ["wf-md", "wf-no-paths", "wf-src"]
    assert api.calls.count("files 2") == 1  # once for the delivery, whatever the number of triggers
    event = next(e for e, _ in world.dispatch.sent if e.workflow_id == "wf-src")
    assert [f["filename"] for f in event.data["enrichment"]["files"]] == ["src/app.py", "README.md"]
    assert (event.data["ref"], event.data["base_ref"], event.data["head_ref"]) == (
        "refs/pull/2/merge",
        "master",
        "changes",
    )


def test_files_are_not_asked_when_no_trigger_needs_them(world: World, api: FakeGithubApi) -> None:
    world.add_trigger(github_trigger("wf-main", events=["pull_request"], branches=["main"], paths=["src/**"]))
    world.deliver("pull_request", pull_request(), "d-1")
    world.router.route("d-1")
    assert api.calls == [] and world.fired == []  # the base branch (master) failed first


def test_without_app_credentials_a_path_filter_firing_is_refused_with_the_reason() -> None:
    world = World(api=None)
    world.add_trigger(github_trigger("wf-paths", events=["pull_request"], paths=["src/**"]))
    world.add_trigger(github_trigger("wf-plain", events=["pull_request"]))
    world.deliver("pull_request", pull_request(), "d-1")

    summary = world.router.route("d-1")

    assert summary is not None
    assert world.fired == [("wf-plain", "gh")]  # everything else still works
    refused = next(o for o in summary.outcomes if o.workflow_id == "wf-paths")
    assert (refused.outcome, refused.reason) == ("refused", NO_CREDENTIALS)
    assert (refused.execution_id, "refused", NO_CREDENTIALS) in world.firing_store.rows
    event = world.dispatch.sent[0][0]
    assert event.data["enrichment"]["missing"][0]["what"] == "everything"


@pytest.mark.parametrize(
    "error",
    [GithubUnreachable("cannot reach GitHub"), GithubRateLimited("limited", 600.0, 403), GithubApiError("x", 502)],
)
def test_a_transient_github_failure_postpones_the_delivery_then_refuses_on_the_last_attempt(
    world: World, api: FakeGithubApi, error: GithubApiError
) -> None:
    world.add_trigger(github_trigger("wf-src", events=["pull_request"], paths=["src/**"]))
    world.add_trigger(github_trigger("wf-plain", events=["pull_request"]))
    world.deliver("pull_request", pull_request(), "d-1")
    api.fail_with = error

    with pytest.raises(RoutingPostponed):
        world.router.route("d-1")
    assert world.fired == []  # nothing fires on an attempt that is retried
    row = world.store.rows["d-1"]
    assert row.delivery.status is DeliveryStatus.FAILED and row.error is not None and "changed files" in row.error

    summary = world.router.route("d-1", last_attempt=True)
    assert summary is not None
    assert world.fired == [("wf-plain", "gh")]
    refused = next(o for o in summary.outcomes if o.workflow_id == "wf-src")
    assert refused.outcome == "refused" and refused.reason is not None and "GitHub could not list" in refused.reason


def test_a_refusal_from_github_refuses_at_once(world: World, api: FakeGithubApi) -> None:
    world.add_trigger(github_trigger("wf-src", events=["pull_request"], paths=["src/**"]))
    world.deliver("pull_request", pull_request(), "d-1")
    api.fail_with = GithubApiError("GitHub answered 404 for pull request #2's files: Not Found", 404)
    summary = world.router.route("d-1")
    assert summary is not None and summary.outcomes[0].outcome == "refused"


def test_a_large_push_asks_the_compare_api(world: World, api: FakeGithubApi) -> None:
    payload = push()
    payload["size"] = 3000  # more commits than the payload lists
    api.compare_files = ["src/app.py"]
    world.add_trigger(github_trigger("wf-src", paths=["src/**"]))
    world.deliver("push", payload, "d-1")
    world.router.route("d-1")
    assert world.fired == [("wf-src", "gh")]
    assert [c for c in api.calls if c.startswith("compare")] == [f"compare master...{payload['after']}"]


@pytest.mark.parametrize("state", [InstallationState.SUSPENDED, InstallationState.REMOVED])
def test_a_suspended_or_removed_installation_fires_nothing(world: World, state: InstallationState) -> None:
    world.add_trigger(github_trigger("wf-any"))
    with world.store.record(_installation_event(), note="x", installation=InstallationChange(1, state=state)):
        pass
    world.deliver("push", push(), "d-1")
    summary = world.router.route("d-1")
    assert world.fired == []
    assert summary is not None and summary.note == f"installation 1 is {state.value}: nothing fires"


def test_an_installation_never_seen_still_fires(world: World) -> None:
    world.add_trigger(github_trigger("wf-any"))
    assert world.store.installation_state(1) is None
    world.deliver("push", push(), "d-1")
    world.router.route("d-1")
    assert world.fired == [("wf-any", "gh")]


def test_a_paused_workflow_matching_is_refused_not_sent(world: World) -> None:
    world.add_trigger(github_trigger("wf-paused"), DeploymentStatus.PAUSED)
    world.deliver("push", push(), "d-1")
    summary = world.router.route("d-1")
    assert world.fired == []
    assert summary is not None and (summary.outcomes[0].outcome, summary.outcomes[0].reason) == (
        "refused",
        "the workflow is paused",
    )


def test_a_trigger_of_another_installation_does_not_fire(world: World) -> None:
    world.add_trigger(github_trigger("wf-other", github_app_installation_id=2))
    world.deliver("push", push(), "d-1")
    summary = world.router.route("d-1")
    assert world.fired == []
    assert summary is not None and "installation 1, not the trigger's (2)" in (summary.outcomes[0].reason or "")


def _installation_event() -> Delivery:
    return Delivery("i-1", "installation", "suspend", None, 1, None, None)
