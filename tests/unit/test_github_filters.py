"""Every matching rule of a GitHub trigger (issue 9, docs/github.md) against real payloads and variants of them."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from workflow_scheduler.domain.triggers.github.filters import (
    GithubFilter,
    Outcome,
    filter_problems,
    matches,
    needs_changed_files,
    push_changed_files,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "github"
REPOSITORY = "Codertocat/Hello-World"  # every fixture used here; installation 1 where the payload has one


@cache
def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return loaded


def payload(name: str, **changes: Any) -> dict[str, Any]:
    """A copy of a fixture payload with top-level keys replaced."""
    data = copy.deepcopy(_load(name))
    data.update(changes)
    return data


def trigger(*events: str, **params: Any) -> GithubFilter:
    return GithubFilter.from_config(
        {"github_app_installation_id": 1, "repository": REPOSITORY, "events": list(events), **params}
    )


NEW_BRANCH = "push/with-new-branch.payload.json"  # refs/heads/master, one commit adding README.md
TAG_DELETED = "push/with-installation.payload.json"  # refs/tags/simple-tag, deleted
PR_OPENED = "pull_request/opened.payload.json"  # base master, label "bug", not a draft


def push_to(ref: str, *commits: dict[str, list[str]]) -> dict[str, Any]:
    """The new-branch push, to another ref, with commits changing the given files."""
    data = payload(NEW_BRANCH, ref=ref)
    if commits:
        template = data["commits"][0]
        data["commits"] = [
            {**template, "added": [], "removed": [], "modified": [], **files, "id": f"{i:040d}"}
            for i, files in enumerate(commits)
        ]
    return data


def pull_request(name: str = PR_OPENED, **changes: Any) -> dict[str, Any]:
    """A pull request payload whose ``pull_request`` object has keys replaced."""
    data = payload(name)
    data["pull_request"].update(changes)
    return data


def outcome(flt: GithubFilter, event: str, data: dict[str, Any], files: list[str] | None = None) -> Outcome:
    return matches(flt, event, data, files).outcome


MATCHED, NOT_MATCHED, NEEDS_FILES = Outcome.MATCHED, Outcome.NOT_MATCHED, Outcome.NEEDS_CHANGED_FILES


# --- which events, from where ------------------------------------------------------------------------------------


def test_only_the_triggers_events_fire_it() -> None:
    assert matches(trigger("pull_request"), "pull_request", payload(PR_OPENED)).matched
    result = matches(trigger("push"), "pull_request", payload(PR_OPENED))
    assert result.outcome is NOT_MATCHED
    assert result.reason == "event 'pull_request' is not one of the trigger's events (push)"


def test_the_events_installation_must_be_the_triggers() -> None:
    other = GithubFilter.from_config({"github_app_installation_id": 2, "repository": REPOSITORY, "events": ["push"]})
    result = matches(other, "push", payload(NEW_BRANCH))
    assert result.outcome is NOT_MATCHED
    assert "installation 1, not the trigger's (2)" in result.reason
    assert matches(trigger("push"), "push", payload(NEW_BRANCH)).matched
    no_installation = payload("issues/opened.payload.json")
    assert matches(trigger("issues"), "issues", no_installation).reason == "the event carries no App installation"


def test_the_repository_must_be_the_triggers_in_any_case() -> None:
    elsewhere = payload(NEW_BRANCH)
    elsewhere["repository"]["full_name"] = "Codertocat/Other"
    assert "repository 'Codertocat/Other' is not the trigger's" in matches(trigger("push"), "push", elsewhere).reason
    assert matches(trigger("push", repository="codertocat/hello-world"), "push", payload(NEW_BRANCH)).matched


# --- push -------------------------------------------------------------------------------------------------------


def test_a_push_that_deletes_a_branch_or_tag_fires_nothing() -> None:
    result = matches(trigger("push"), "push", payload(TAG_DELETED))
    assert result.outcome is NOT_MATCHED
    assert result.reason == "the push deletes refs/tags/simple-tag"
    deleted_branch = push_to("refs/heads/master")
    deleted_branch.update(deleted=True, commits=[], after="0" * 40)
    assert outcome(trigger("push", branches=["**"]), "push", deleted_branch) is NOT_MATCHED


def test_branch_filters_match_the_pushed_branch() -> None:
    data = payload(NEW_BRANCH)
    assert outcome(trigger("push", branches=["master"]), "push", data) is MATCHED
    assert matches(trigger("push", branches=["main"]), "push", data).reason == "branch 'master' does not match branches"
    assert outcome(trigger("push", branches_ignore=["master"]), "push", data) is NOT_MATCHED
    assert outcome(trigger("push", branches_ignore=["release/**"]), "push", data) is MATCHED


def test_branch_patterns_with_a_later_negation() -> None:
    """GitHub's example: run for releases/**, except releases/**-alpha."""
    flt = trigger("push", branches=["releases/**", "!releases/**-alpha"])
    assert outcome(flt, "push", push_to("refs/heads/releases/10")) is MATCHED
    assert outcome(flt, "push", push_to("refs/heads/releases/beta/3-alpha")) is NOT_MATCHED
    ignoring = trigger("push", branches_ignore=["releases/**-alpha"])
    assert outcome(ignoring, "push", push_to("refs/heads/releases/beta/3-alpha")) is NOT_MATCHED
    assert outcome(ignoring, "push", push_to("refs/heads/releases/10")) is MATCHED


def test_tag_filters_match_the_pushed_tag() -> None:
    tag = push_to("refs/tags/v1.2.3")
    assert outcome(trigger("push", tags=["v[0-9].[0-9]+.[0-9]+"]), "push", tag) is MATCHED
    assert outcome(trigger("push", tags=["v2*"]), "push", tag) is NOT_MATCHED
    assert matches(trigger("push", tags_ignore=["v1.*"]), "push", tag).reason == "tag 'v1.2.3' matches tags_ignore"


def test_only_branch_filters_skip_tag_pushes_and_only_tag_filters_skip_branch_pushes() -> None:
    tag, branch = push_to("refs/tags/v1.0"), push_to("refs/heads/main")
    branches_only, tags_only = trigger("push", branches=["**"]), trigger("push", tags=["**"])
    assert matches(branches_only, "push", tag).reason == "a tag push, and the trigger filters branches only"
    assert matches(tags_only, "push", branch).reason == "a branch push, and the trigger filters tags only"
    assert outcome(trigger("push", branches_ignore=["x"]), "push", tag) is NOT_MATCHED
    assert outcome(trigger("push", tags_ignore=["x"]), "push", branch) is NOT_MATCHED
    both = trigger("push", branches=["main"], tags=["v*"])
    assert outcome(both, "push", tag) is MATCHED
    assert outcome(both, "push", branch) is MATCHED
    neither = trigger("push")
    assert outcome(neither, "push", tag) is MATCHED
    assert outcome(neither, "push", branch) is MATCHED


def test_paths_run_when_any_changed_file_matches() -> None:
    data = push_to("refs/heads/main", {"added": ["README.md"]}, {"modified": ["src/app.py"], "removed": ["old.txt"]})
    assert push_changed_files(data) == ["README.md", "src/app.py", "old.txt"]
    assert outcome(trigger("push", paths=["src/**"]), "push", data) is MATCHED
    assert outcome(trigger("push", paths=["old.txt"]), "push", data) is MATCHED  # a removed file changed too
    result = matches(trigger("push", paths=["docs/**"]), "push", data)
    assert result.reason == "none of the 3 changed files matches paths"
    # GitHub's example: every .js file, except under docs.
    js = trigger("push", paths=["**.js", "!docs/**"])
    assert outcome(js, "push", push_to("refs/heads/main", {"added": ["docs/a.js"]})) is NOT_MATCHED
    assert outcome(js, "push", push_to("refs/heads/main", {"added": ["docs/a.js", "src/b.js"]})) is MATCHED


def test_paths_ignore_runs_unless_every_changed_file_is_ignored() -> None:
    docs_only = push_to("refs/heads/main", {"added": ["docs/a.md"]}, {"modified": ["docs/b/c.md"]})
    mixed = push_to("refs/heads/main", {"added": ["docs/a.md"]}, {"modified": ["src/app.py"]})
    flt = trigger("push", paths_ignore=["docs/**"])
    assert matches(flt, "push", docs_only).reason == "all 2 changed files match paths_ignore"
    assert outcome(flt, "push", mixed) is MATCHED


def test_with_ref_and_path_filters_both_must_match() -> None:
    data = payload(NEW_BRANCH)  # master, README.md
    assert outcome(trigger("push", branches=["master"], paths=["**.md"]), "push", data) is MATCHED
    assert outcome(trigger("push", branches=["master"], paths=["src/**"]), "push", data) is NOT_MATCHED
    assert outcome(trigger("push", branches=["main"], paths=["**.md"]), "push", data) is NOT_MATCHED


def test_path_filters_are_not_evaluated_for_tag_pushes() -> None:
    tag = push_to("refs/tags/v1.0", {"added": ["README.md"]})
    assert outcome(trigger("push", paths=["src/**"]), "push", tag) is MATCHED
    assert outcome(trigger("push", tags=["v*"], paths_ignore=["**"]), "push", tag) is MATCHED
    assert not needs_changed_files(trigger("push", paths=["src/**"]), "push", push_to("refs/tags/v1.0"))


def test_a_push_that_changed_no_files_does_not_run_path_filtered_triggers() -> None:
    empty = push_to("refs/heads/main")
    empty["commits"] = []
    assert matches(trigger("push", paths_ignore=["docs/**"]), "push", empty).reason.startswith("no files changed")
    assert outcome(trigger("push"), "push", empty) is MATCHED


def test_a_push_whose_commit_list_may_be_cut_asks_for_its_changed_files() -> None:
    flt = trigger("push", paths=["src/**"])
    full = push_to("refs/heads/main", *([{"modified": ["README.md"]}] * 2048))
    counted = push_to("refs/heads/main", {"modified": ["README.md"]})
    counted["size"] = 3
    for data in (full, counted):
        assert push_changed_files(data) is None
        assert needs_changed_files(flt, "push", data)
        result = matches(flt, "push", data)
        assert result.outcome is NEEDS_FILES
        assert result.reason == "the path filters need the push's changed files from the GitHub API"
        assert outcome(flt, "push", data, ["src/a.py"]) is MATCHED
        assert outcome(flt, "push", data, ["README.md"]) is NOT_MATCHED
    assert not needs_changed_files(flt, "push", payload(NEW_BRANCH))
    assert not needs_changed_files(trigger("push"), "push", full)


# --- pull requests ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("event", ["pull_request", "pull_request_target"])
def test_pull_request_branch_filters_match_the_base_branch(event: str) -> None:
    data = pull_request(head={"ref": "feature/x"})  # the base is master
    assert outcome(trigger(event, branches=["master"]), event, data) is MATCHED
    assert outcome(trigger(event, branches=["feature/**"]), event, data) is NOT_MATCHED
    assert matches(trigger(event, branches_ignore=["mas*"]), event, data).reason == (
        "base branch 'master' matches branches_ignore"
    )
    # tags do not apply to pull requests (Actions has no tags filter for them)
    assert outcome(trigger(event, "push", tags=["v*"]), event, data) is MATCHED


@pytest.mark.parametrize("event", ["pull_request", "pull_request_target"])
def test_pull_requests_default_to_opened_synchronize_and_reopened(event: str) -> None:
    flt = trigger(event)
    for name in ("opened", "synchronize", "reopened"):
        assert outcome(flt, event, payload(f"pull_request/{name}.payload.json")) is MATCHED
    for name in ("closed", "labeled"):
        result = matches(flt, event, payload(f"pull_request/{name}.payload.json"))
        assert result.outcome is NOT_MATCHED
        assert "(the default for pull requests without action_filter)" in result.reason
    closing = trigger(event, action_filter=["closed"])
    assert outcome(closing, event, payload("pull_request/closed.payload.json")) is MATCHED
    assert outcome(closing, event, payload(PR_OPENED)) is NOT_MATCHED


def test_other_events_fire_for_any_action_unless_action_filter_says() -> None:
    assigned = payload("issues/assigned.with-installation.payload.json")
    assert outcome(trigger("issues"), "issues", assigned) is MATCHED
    assert outcome(trigger("issues", action_filter=["opened"]), "issues", assigned) is NOT_MATCHED
    assert outcome(trigger("issues", action_filter=["assigned"]), "issues", assigned) is MATCHED
    assert outcome(trigger("release"), "release", payload("release/created.with-installation.payload.json")) is MATCHED
    # an event without an action is not filtered by action_filter
    created = payload("create/with-installation.payload.json")
    assert outcome(trigger("create", action_filter=["opened"]), "create", created) is MATCHED


@pytest.mark.parametrize("event", ["pull_request", "pull_request_target"])
def test_pull_request_path_filters_use_the_files_from_the_api(event: str) -> None:
    flt = trigger(event, paths=["src/**"])
    data = payload(PR_OPENED)
    assert needs_changed_files(flt, event, data)
    result = matches(flt, event, data)
    assert result.outcome is NEEDS_FILES
    assert result.reason == "the path filters need the pull request's files from the GitHub API"
    assert outcome(flt, event, data, ["src/a.py", "README.md"]) is MATCHED
    assert outcome(flt, event, data, ["README.md"]) is NOT_MATCHED
    assert outcome(trigger(event, paths_ignore=["*.md"]), event, data, ["README.md"]) is NOT_MATCHED
    assert not needs_changed_files(trigger(event), event, data)


def test_changed_files_are_asked_for_only_when_every_other_filter_passed() -> None:
    flt = trigger("pull_request", branches=["main"], paths=["src/**"])
    result = matches(flt, "pull_request", payload(PR_OPENED))
    assert result.outcome is NOT_MATCHED
    assert result.reason == "base branch 'master' does not match branches"


# --- the seed's filters -----------------------------------------------------------------------------------------


def test_author_filter_matches_from_the_start_of_the_senders_login() -> None:
    data = payload(PR_OPENED)  # sender Codertocat
    assert outcome(trigger("pull_request", author_filter="Coder"), "pull_request", data) is MATCHED
    assert outcome(trigger("pull_request", author_filter="^Codertocat$"), "pull_request", data) is MATCHED
    assert outcome(trigger("pull_request", author_filter="(?i)codertocat"), "pull_request", data) is MATCHED
    result = matches(trigger("pull_request", author_filter="tocat"), "pull_request", data)
    assert result.reason == "the sender 'Codertocat' does not match author_filter 'tocat'"


def test_ignore_bots_skips_bot_senders() -> None:
    flt = trigger("pull_request", ignore_bots=True)
    assert outcome(flt, "pull_request", payload(PR_OPENED)) is MATCHED
    by_type = payload(PR_OPENED)
    by_type["sender"].update(login="some-app", type="Bot")
    by_login = payload(PR_OPENED)
    by_login["sender"]["login"] = "dependabot[bot]"
    assert matches(flt, "pull_request", by_type).reason == "the sender 'some-app' is a bot (ignore_bots)"
    assert outcome(flt, "pull_request", by_login) is NOT_MATCHED
    assert outcome(trigger("pull_request"), "pull_request", by_type) is MATCHED


def test_label_filter_needs_one_of_the_issues_or_pull_requests_labels() -> None:
    pr, issue = payload(PR_OPENED), payload("issues/assigned.with-installation.payload.json")  # both "bug"
    assert outcome(trigger("pull_request", label_filter=["bug", "urgent"]), "pull_request", pr) is MATCHED
    assert outcome(trigger("issues", label_filter=["BUG"]), "issues", issue) is MATCHED
    result = matches(trigger("issues", label_filter=["enhancement"]), "issues", issue)
    assert result.reason == "labels (bug) include none of label_filter (enhancement)"
    unlabeled = pull_request(labels=[])
    assert "labels (none)" in matches(trigger("pull_request", label_filter=["bug"]), "pull_request", unlabeled).reason
    # events without an issue or pull request have no labels to filter on
    assert outcome(trigger("push", label_filter=["bug"]), "push", payload(NEW_BRANCH)) is MATCHED


def test_draft_pr_handling() -> None:
    draft = payload("pull_request/converted_to_draft.with-installation.payload.json")
    ready = payload("pull_request/ready_for_review.with-installation.payload.json")
    actions = ["converted_to_draft", "ready_for_review"]

    def fires(handling: str, data: dict[str, Any]) -> bool:
        flt = trigger("pull_request", action_filter=actions, draft_pr_handling=handling)
        return matches(flt, "pull_request", data).matched

    assert (fires("include", draft), fires("include", ready)) == (True, True)
    assert (fires("ignore", draft), fires("ignore", ready)) == (False, True)
    assert (fires("only", draft), fires("only", ready)) == (True, False)
    assert outcome(trigger("push", draft_pr_handling="only"), "push", payload(NEW_BRANCH)) is MATCHED


def test_a_stored_invalid_pattern_matches_nothing_and_says_why() -> None:
    result = matches(trigger("push", branches=["release/["]), "push", payload(NEW_BRANCH))
    assert result.outcome is NOT_MATCHED
    assert result.reason == "the trigger has an invalid pattern 'release/[': '[' at position 8 has no closing ']'"


# --- deploy-time validation -------------------------------------------------------------------------------------


def problems(*events: str, **params: Any) -> list[tuple[str, str]]:
    return [(p.field, p.message) for p in filter_problems(trigger(*events, **params))]


def test_valid_parameters_have_no_problems() -> None:
    assert problems("push", "pull_request", branches=["main", "release/**", "!release/old"], paths=["src/**"]) == []
    assert problems("issues", action_filter=["opened"], author_filter="^(alice|bob)$", label_filter=["bug"]) == []


def test_an_invalid_pattern_is_refused_naming_field_and_pattern() -> None:
    assert problems("push", branches=["main", "release/v[0-9"], paths=["!docs/**"]) == [
        ("parameters.branches.1", "pattern 'release/v[0-9': '[' at position 9 has no closing ']'"),
        (
            "parameters.paths.0",
            "pattern '!docs/**': a '!' pattern only excludes what an earlier pattern included: "
            "put a positive pattern first",
        ),
    ]


@pytest.mark.parametrize("kind", ["branches", "tags", "paths"])
def test_a_filter_and_its_ignore_form_together_are_refused(kind: str) -> None:
    found = problems("push", **{kind: ["a"], f"{kind}_ignore": ["b"]})
    assert found == [
        (
            f"parameters.{kind}_ignore",
            f"use either {kind!r} or '{kind}_ignore', not both (as in GitHub Actions): "
            f"to exclude some names, add '!' patterns to {kind!r}",
        )
    ]


def test_filters_no_event_of_the_trigger_uses_are_refused() -> None:
    assert problems("pull_request", tags=["v*"]) == [
        ("parameters.tags", "applies only to push events, and the trigger has none")
    ]
    assert problems("issues", paths=["src/**"]) == [
        (
            "parameters.paths",
            "applies only to pull_request and pull_request_target and push events, and the trigger has none",
        )
    ]


def test_author_filter_must_be_a_regular_expression_that_cannot_backtrack_for_ever() -> None:
    assert problems("push", author_filter="(") == [
        (
            "parameters.author_filter",
            "is not a valid regular expression: missing ), unterminated subpattern at position 0",
        )
    ]
    for dangerous in ("(a+)+$", "(?:a|ab)*c", r"(\w+\s?)*$", "((a)+)+"):
        assert problems("push", author_filter=dangerous) == [
            (
                "parameters.author_filter",
                "may not repeat a group that itself repeats or alternates (it can take exponential time)",
            )
        ], dangerous
    assert problems("push", author_filter=r"(a)\1") == [("parameters.author_filter", "may not use back-references")]
    for fine in ("[a-z]+(-[a-z]+)?", r"^(dependabot|renovate)\[bot\]$", "[(+)]+", r"(?i)^alice"):
        assert problems("push", author_filter=fine) == [], fine


def test_event_and_action_names_and_the_number_of_patterns_are_checked() -> None:
    assert problems("pull-request", action_filter=["Opened"]) == [
        ("parameters.events.0", "'pull-request' is not a GitHub webhook event name"),
        ("parameters.action_filter.0", "'Opened' is not a GitHub webhook action name"),
    ]
    assert problems("push", paths=[f"p{i}" for i in range(101)]) == [
        ("parameters.paths", "has 101 patterns; at most 100 are accepted")
    ]
