"""GitHub App installations are tenants' data: a trigger deploys only on an installation linked to its owner, and a
delivery fires only the triggers of owners linked to the delivery's installation (issue 9, tenancy)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.fakes import MemoryFiringStore, MemoryQueue, MemoryStore
from tests.support.github_fakes import FakeGithubApi, MemoryDeliveryQueue, MemoryGithubStore, fixture, github_trigger
from tests.support.github_fakes import signed as signed_delivery
from workflow_scheduler.cli import main
from workflow_scheduler.domain.deployments import DeploymentService
from workflow_scheduler.domain.errors import SpecInvalid
from workflow_scheduler.domain.firing import FiringService, FiringTarget
from workflow_scheduler.domain.models import DeploymentStatus
from workflow_scheduler.domain.triggers import registrars
from workflow_scheduler.domain.triggers.github.ingress import GithubIngress
from workflow_scheduler.domain.triggers.github.router import GithubRouter
from workflow_scheduler.domain.triggers.manager import TriggerManager
from workflow_scheduler.domain.triggers.registrar import RegistrarDeps

INSTALLATION = 1
REPO = "Codertocat/Hello-World"


def spec(installation: int = INSTALLATION, **parameters: Any) -> dict[str, Any]:
    parameters = {"github_app_installation_id": installation, "repository": REPO, "events": ["push"], **parameters}
    node = {"id": "gh", "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_GITHUB", "parameters": parameters}
    return {"nodes": [node]}


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def service(store: MemoryStore) -> DeploymentService:
    return DeploymentService(store, TriggerManager(registrars(RegistrarDeps())))


def refusal(service: DeploymentService, owner: str, raw: dict[str, Any]) -> tuple[str, list[dict[str, str]]]:
    with pytest.raises(SpecInvalid) as caught:  # Invalid: 422
        service.deploy("wf", owner, raw)
    return caught.value.code, [p.as_dict() for p in caught.value.problems or []]


def test_an_installation_not_linked_to_the_user_is_refused_and_nothing_is_written(
    store: MemoryStore, service: DeploymentService
) -> None:
    code, problems = refusal(service, "alice", spec())
    assert code == "github_installation_not_allowed"
    assert [(p["node_id"], p["field"]) for p in problems] == [("gh", "parameters.github_app_installation_id")]
    assert "workflow-scheduler github link 1" in problems[0]["message"]
    assert store.deployments == {} and store.triggers == {}


def test_another_users_link_does_not_help_and_the_answer_says_nothing_of_it(
    store: MemoryStore, service: DeploymentService
) -> None:
    unknown = refusal(service, "alice", spec())
    store.github_links.add((INSTALLATION, "bob"))
    linked_to_bob = refusal(service, "alice", spec())
    assert linked_to_bob == unknown  # byte for byte: nothing tells an installation of someone else from none


def test_a_linked_user_deploys_and_an_update_is_checked_again(store: MemoryStore, service: DeploymentService) -> None:
    store.github_links.add((INSTALLATION, "alice"))
    assert service.deploy("wf", "alice", spec()).changed
    code, _ = refusal(service, "alice", spec(installation=2))  # the changed trigger names another installation
    assert code == "github_installation_not_allowed"
    assert store.triggers[("wf", "gh")].lookup["github_installation_id"] == INSTALLATION


class World:
    """The ingress, the router and its fakes; alice's and bob's triggers listen to the same repository."""

    def __init__(self) -> None:
        self.store = MemoryGithubStore()
        self.api = FakeGithubApi()
        self.firing_store = MemoryFiringStore(
            [
                FiringTarget(DeploymentStatus.DEPLOYED, "alice", github_trigger("wf-alice")),
                FiringTarget(DeploymentStatus.DEPLOYED, "bob", github_trigger("wf-bob", paths=["src/**"])),
            ]
        )
        self.dispatch = MemoryQueue()
        self.ingress = GithubIngress(self.store, MemoryDeliveryQueue(), lambda: ["s"])
        firings = FiringService(self.firing_store, self.dispatch)
        self.router = GithubRouter(self.store, self.firing_store, firings, self.api, pause=lambda seconds: None)

    def route(self, delivery_id: str, installation: int | None = INSTALLATION) -> dict[str, tuple[str, str | None]]:
        payload = fixture("push/with-new-branch.payload.json")
        payload.pop("installation", None)
        if installation is not None:
            payload["installation"] = {"id": installation}
        self.ingress.receive(signed_delivery("push", payload, delivery_id, secret="s"))
        summary = self.router.route(delivery_id)
        assert summary is not None
        return {o.workflow_id: (o.outcome, o.reason) for o in summary.outcomes}

    @property
    def fired(self) -> list[str]:
        return [e.workflow_id for e, _ in self.dispatch.sent]


NOT_LINKED = "the App installation 1 is not linked to the workflow's owner"


def test_only_the_triggers_of_linked_owners_fire_the_others_are_refused_in_the_delivery_record() -> None:
    world = World()
    world.store.links.add((INSTALLATION, "alice"))
    world.store.links.add((2, "bob"))  # bob's link to another installation does not open this one

    outcomes = world.route("d-1")

    assert world.fired == ["wf-alice"]
    assert outcomes == {"wf-alice": ("queued", None), "wf-bob": ("refused", NOT_LINKED)}
    assert [status for _, status, _ in world.firing_store.rows] == ["queued"]  # bob's history learns nothing


def test_after_an_unlink_the_trigger_stays_deployed_and_fires_nothing() -> None:
    world = World()
    world.store.links.add((INSTALLATION, "alice"))
    world.route("d-1")
    world.store.links.discard((INSTALLATION, "alice"))

    outcomes = world.route("d-2")

    assert world.fired == ["wf-alice"]  # the first delivery's only
    assert outcomes["wf-alice"] == ("refused", NOT_LINKED)


def test_a_delivery_without_an_installation_fires_nobody() -> None:
    world = World()
    world.store.links.add((INSTALLATION, "alice"))
    outcomes = world.route("d-1", installation=None)
    assert world.fired == []
    assert outcomes["wf-alice"] == ("refused", "the event names no App installation")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["github", "link", "0", "--owner", "alice"], "not a GitHub App installation id"),
        (["github", "link", "-3", "--owner", "alice"], "not a GitHub App installation id"),
        (["github", "link", str(2**53), "--owner", "alice"], "not a GitHub App installation id"),
        (["github", "unlink", "1", "--owner", " "], "cannot be empty"),
        (["github", "link", "1"], "--owner"),
    ],
)
def test_the_cli_refuses_what_is_no_link_on_stderr_with_status_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    out, err = capsys.readouterr()
    assert exited.value.code == 2 and out == "" and fragment in err
