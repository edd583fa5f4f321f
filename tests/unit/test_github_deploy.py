"""Deploying GitHub triggers: every parameter of issue 9 is accepted, what GitHub Actions would refuse is refused
(422 naming the node, the field and the pattern), and a deployed trigger is found by the router's lookup."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.fakes import MemoryFiringStore, MemoryStore
from tests.support.imports import modules_loaded_by
from workflow_scheduler.domain.deployments import DeploymentService
from workflow_scheduler.domain.errors import SpecInvalid
from workflow_scheduler.domain.firing import ByGithubEvent, FiringTarget
from workflow_scheduler.domain.models import DeploymentStatus, TriggerType
from workflow_scheduler.domain.triggers import registrars
from workflow_scheduler.domain.triggers.github.filters import GithubFilter
from workflow_scheduler.domain.triggers.manager import TriggerManager
from workflow_scheduler.domain.triggers.registrar import RegistrarDeps

EVERY_PARAMETER: dict[str, Any] = {
    "github_app_installation_id": 42,
    "repository": "Octo-Org/Hello.World",
    "events": ["push", "pull_request", "issues"],
    "branches": ["main", "releases/**", "!releases/**-alpha"],
    "tags": ["v[0-9].[0-9]+.[0-9]+"],
    "paths_ignore": ["docs/**", "**.md"],
    "action_filter": ["opened", "synchronize"],
    "author_filter": "^(octocat|hubot)$",
    "label_filter": ["bug", "urgent"],
    "ignore_bots": True,
    "draft_pr_handling": "ignore",
}


def github(node_id: str = "gh", **parameters: Any) -> dict[str, Any]:
    return {"id": node_id, "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_GITHUB", "parameters": parameters}


@pytest.fixture
def store() -> MemoryStore:
    linked = MemoryStore()
    linked.github_links.add((42, "alice"))  # tests/unit/test_github_tenancy.py: without it, refused
    return linked


@pytest.fixture
def service(store: MemoryStore) -> DeploymentService:
    return DeploymentService(store, TriggerManager(registrars(RegistrarDeps())))


def refused(service: DeploymentService, *nodes: dict[str, Any]) -> list[dict[str, str]]:
    with pytest.raises(SpecInvalid) as caught:  # Invalid: 422 with the problems listed
        service.deploy("wf", "alice", {"nodes": list(nodes)})
    return [p.as_dict() for p in caught.value.problems or []]


def test_a_github_trigger_deploys_with_every_parameter_and_describes_itself(
    service: DeploymentService, store: MemoryStore
) -> None:
    result = service.deploy("wf", "alice", {"nodes": [github(**EVERY_PARAMETER)]})

    (record,) = result.triggers
    assert record.type is TriggerType.GITHUB
    assert GithubFilter.from_config(record.config) == GithubFilter(
        github_app_installation_id=42,
        repository="Octo-Org/Hello.World",
        events=("push", "pull_request", "issues"),
        branches=("main", "releases/**", "!releases/**-alpha"),
        tags=("v[0-9].[0-9]+.[0-9]+",),
        paths_ignore=("docs/**", "**.md"),
        action_filter=("opened", "synchronize"),
        author_filter="^(octocat|hubot)$",
        label_filter=("bug", "urgent"),
        ignore_bots=True,
        draft_pr_handling="ignore",
    )
    view = service.triggers.describe(record, "https://api.example.com")
    assert view == {
        "trigger_id": "gh",
        "type": "github",
        "status": "active",
        "version": 1,
        "repository": "Octo-Org/Hello.World",
        "events": ["push", "pull_request", "issues"],
        "github_app_installation_id": 42,
    }


def test_the_router_finds_a_deployed_trigger_by_repository_in_any_case_and_event(
    service: DeploymentService, store: MemoryStore
) -> None:
    service.deploy("wf", "alice", {"nodes": [github(**EVERY_PARAMETER)]})
    record = store.triggers[("wf", "gh")]
    assert record.lookup == {
        "github_repository": "octo-org/hello.world",
        "github_events": ["push", "pull_request", "issues"],
        "github_installation_id": 42,
    }
    targets = MemoryFiringStore([FiringTarget(DeploymentStatus.DEPLOYED, "alice", record)])
    assert targets.targets(ByGithubEvent("OCTO-ORG/hello.world", "issues"))
    assert targets.targets(ByGithubEvent("Octo-Org/Hello.World", "release")) == []


def test_an_invalid_pattern_is_422_naming_node_field_and_pattern(service: DeploymentService) -> None:
    problems = refused(
        service,
        github("a", **{**EVERY_PARAMETER, "branches": ["main", "release/v[0-9"]}),
        github("b", **{**EVERY_PARAMETER, "paths_ignore": ["!docs/**"]}),
    )
    assert problems == [
        {
            "node_id": "a",
            "field": "parameters.branches.1",
            "message": "pattern 'release/v[0-9': '[' at position 9 has no closing ']'",
        },
        {
            "node_id": "b",
            "field": "parameters.paths_ignore.0",
            "message": "pattern '!docs/**': a '!' pattern only excludes what an earlier pattern included: "
            "put a positive pattern first",
        },
    ]


@pytest.mark.parametrize("kind", ["branches", "tags", "paths"])
def test_a_filter_with_its_ignore_form_is_refused(service: DeploymentService, kind: str) -> None:
    both = {**EVERY_PARAMETER, "paths_ignore": [], kind: ["a"], f"{kind}_ignore": ["b"]}
    (problem,) = refused(service, github(**both))
    assert problem["field"] == f"parameters.{kind}_ignore"
    assert f"use either '{kind}' or '{kind}_ignore', not both" in problem["message"]


def test_every_problem_of_a_node_comes_in_one_answer_beside_other_nodes_type_errors(
    service: DeploymentService,
) -> None:
    bad = github(
        "gh",
        github_app_installation_id=1,
        repository="o/r",
        events=["pull-request"],
        tags=["v*"],
        author_filter="(a|ab)*",
        action_filter=["Opened"],
    )
    problems = refused(service, bad, github("other", repository="not a repository", events=["push"]))
    assert {(p["node_id"], p["field"]) for p in problems} == {
        ("gh", "parameters.events.0"),
        ("gh", "parameters.tags"),  # tags apply to push only
        ("gh", "parameters.author_filter"),
        ("gh", "parameters.action_filter.0"),
        ("other", "parameters.github_app_installation_id"),
        ("other", "parameters.repository"),
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"draft_pr_handling": "sometimes"}, "parameters.draft_pr_handling"),
        ({"ignore_bots": "maybe"}, "parameters.ignore_bots"),
        ({"label_filter": [""]}, "parameters.label_filter.0"),
        ({"events": []}, "parameters.events"),
        ({"branches_ignored": ["x"]}, "parameters.branches_ignored"),  # a typo is refused, not ignored
        ({"branches": ["a"] * 101}, "parameters.branches"),
    ],
)
def test_malformed_parameters_are_refused_by_field(
    service: DeploymentService, change: dict[str, Any], field: str
) -> None:
    problems = refused(service, github(**{**EVERY_PARAMETER, **change}))
    assert field in [p["field"] for p in problems]


def test_building_the_registrars_loads_no_github_matching_code() -> None:
    """The api function builds every registrar at cold start; GitHub's patterns load only with a GitHub spec."""
    loaded = modules_loaded_by(
        "from workflow_scheduler.domain.triggers import registrars\n"
        "from workflow_scheduler.domain.triggers.registrar import RegistrarDeps\n"
        "registrars(RegistrarDeps())"
    )
    github = "workflow_scheduler.domain.triggers.github"
    assert f"{github}.registrar" in loaded
    assert f"{github}.filters" not in loaded and f"{github}.patterns" not in loaded
