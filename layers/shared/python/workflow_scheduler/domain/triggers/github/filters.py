"""Whether a GitHub event fires a GitHub trigger (issue 9; every rule with an example in docs/github.md).

The filters mean what they mean in a GitHub Actions ``on.<event>`` block (``branches``, ``tags``, ``paths``, their
``_ignore`` forms, ``action_filter`` as ``types``), plus the seed's ``author_filter``, ``label_filter``,
``ignore_bots`` and ``draft_pr_handling``. ``matches`` is pure: the router fetches a pull request's files (or a
large push's) only for a trigger whose other filters all passed and whose answer is ``NEEDS_CHANGED_FILES``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any, Literal

from workflow_scheduler.domain.errors import Problem
from workflow_scheduler.domain.triggers.github.patterns import (
    PatternError,
    PatternList,
    compile_patterns,
    list_problems,
)

PULL_REQUEST_EVENTS = frozenset({"pull_request", "pull_request_target"})
REF_EVENTS = PULL_REQUEST_EVENTS | {"push"}  # the events whose branches* and paths* filters Actions evaluates
DEFAULT_PULL_REQUEST_ACTIONS = ("opened", "synchronize", "reopened")  # Actions' default ``types``
PUSH_PAYLOAD_MAX_COMMITS = 2048  # a push payload lists at most this many commits
PATTERN_FIELDS = ("branches", "branches_ignore", "tags", "tags_ignore", "paths", "paths_ignore")
MAX_PATTERNS = 100
MAX_AUTHOR_FILTER_LENGTH = 256
MAX_LOGIN_LENGTH = 100  # GitHub logins have at most 39 characters, apps' "[bot]" logins a few more
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")  # webhook event and action names
_ZERO_SHA = "0" * 40

DraftPrHandling = Literal["include", "ignore", "only"]


class Outcome(StrEnum):
    MATCHED = "matched"
    NOT_MATCHED = "not_matched"
    # Every other filter passed; the path filters need the changed files, which the payload does not carry.
    NEEDS_CHANGED_FILES = "needs_changed_files"


@dataclass(frozen=True)
class Match:
    outcome: Outcome
    reason: str = ""  # why it did not match, or what it needs

    @property
    def matched(self) -> bool:
        return self.outcome is Outcome.MATCHED


MATCHED = Match(Outcome.MATCHED)


@dataclass(frozen=True)
class GithubFilter:
    """A GitHub trigger's parameters, as deployed."""

    github_app_installation_id: int
    repository: str  # owner/name
    events: tuple[str, ...]
    branches: tuple[str, ...] = ()
    branches_ignore: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    tags_ignore: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    paths_ignore: tuple[str, ...] = ()
    action_filter: tuple[str, ...] = ()
    author_filter: str | None = None
    label_filter: tuple[str, ...] = ()
    ignore_bots: bool = False
    draft_pr_handling: DraftPrHandling = "include"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> GithubFilter:
        """The filter of a stored trigger configuration (other keys are ignored)."""

        def names(key: str) -> tuple[str, ...]:
            return tuple(str(v) for v in config.get(key) or ())

        draft: DraftPrHandling = "include"
        if config.get("draft_pr_handling") in ("ignore", "only"):
            draft = config["draft_pr_handling"]
        return cls(
            github_app_installation_id=int(config["github_app_installation_id"]),
            repository=str(config["repository"]),
            events=names("events"),
            branches=names("branches"),
            branches_ignore=names("branches_ignore"),
            tags=names("tags"),
            tags_ignore=names("tags_ignore"),
            paths=names("paths"),
            paths_ignore=names("paths_ignore"),
            action_filter=names("action_filter"),
            author_filter=config.get("author_filter") or None,
            label_filter=names("label_filter"),
            ignore_bots=bool(config.get("ignore_bots", False)),
            draft_pr_handling=draft,
        )

    @cached_property
    def compiled(self) -> Mapping[str, PatternList]:
        """Each pattern field compiled (once per filter); ``PatternError`` if one is invalid."""
        return {name: compile_patterns(getattr(self, name)) for name in PATTERN_FIELDS}

    @property
    def has_path_filters(self) -> bool:
        return bool(self.paths or self.paths_ignore)


def matches(
    flt: GithubFilter, event_name: str, payload: Mapping[str, Any], changed_files: Sequence[str] | None = None
) -> Match:
    """Whether the event fires the trigger, or why not.

    ``changed_files``: the files the push or pull request changed, when the caller fetched them; without them a
    push's come from its payload, and path filters that need more answer ``NEEDS_CHANGED_FILES``.
    """
    try:
        for check in (_event, _installation, _repository, _deleted, _action, _sender, _draft, _labels, _refs):
            reason = check(flt, event_name, payload)
            if reason is not None:
                return Match(Outcome.NOT_MATCHED, reason)
        return _paths(flt, event_name, payload, changed_files)
    except PatternError as exc:  # stored before patterns were checked at deploy
        return Match(Outcome.NOT_MATCHED, f"the trigger has an invalid {exc}")


def needs_changed_files(flt: GithubFilter, event_name: str, payload: Mapping[str, Any]) -> bool:
    """Whether the trigger's path filters need files the payload does not carry (asked of the GitHub API)."""
    if not flt.has_path_filters or event_name not in REF_EVENTS or event_name not in flt.events:
        return False
    if event_name in PULL_REQUEST_EVENTS:
        return True
    ref = _text(payload.get("ref"))
    return not payload.get("deleted") and ref.startswith("refs/heads/") and push_changed_files(payload) is None


def push_changed_files(payload: Mapping[str, Any]) -> list[str] | None:
    """The files a push's commits added, modified or removed, in order; None when its commit list may be cut."""
    commits = payload.get("commits")
    if not isinstance(commits, list) or push_commits_incomplete(payload):
        return None
    files: dict[str, None] = {}
    for commit in commits:
        if isinstance(commit, Mapping):
            for key in ("added", "modified", "removed"):
                files.update(dict.fromkeys(str(f) for f in commit.get(key) or ()))
    return list(files)


def push_commits_incomplete(payload: Mapping[str, Any]) -> bool:
    """Whether the push may hold more commits than its payload lists (GitHub lists at most 2,048)."""
    commits = payload.get("commits")
    listed = len(commits) if isinstance(commits, list) else 0
    if listed >= PUSH_PAYLOAD_MAX_COMMITS:
        return True
    counts = [payload.get(k) for k in ("size", "distinct_size")]  # the Events API's form carries them
    return any(isinstance(c, int) and c > listed for c in counts)


# --- the checks, in order: each returns why the event does not match, or None ---------------------------------


def _event(flt: GithubFilter, event_name: str, _payload: Mapping[str, Any]) -> str | None:
    if event_name in flt.events:
        return None
    return f"event {event_name!r} is not one of the trigger's events ({', '.join(flt.events)})"


def _installation(flt: GithubFilter, _event_name: str, payload: Mapping[str, Any]) -> str | None:
    installation = _object(payload.get("installation")).get("id")
    if installation is None:
        return "the event carries no App installation"
    if installation != flt.github_app_installation_id:
        return f"the event comes from installation {installation}, not the trigger's ({flt.github_app_installation_id})"
    return None


def _repository(flt: GithubFilter, _event_name: str, payload: Mapping[str, Any]) -> str | None:
    name = _text(_object(payload.get("repository")).get("full_name"))
    if name.casefold() == flt.repository.casefold():  # GitHub's repository names ignore case
        return None
    return f"repository {name!r} is not the trigger's ({flt.repository})" if name else "the event names no repository"


def _deleted(_flt: GithubFilter, event_name: str, payload: Mapping[str, Any]) -> str | None:
    if event_name == "push" and payload.get("deleted"):
        return f"the push deletes {_text(payload.get('ref'))}"
    return None


def _action(flt: GithubFilter, event_name: str, payload: Mapping[str, Any]) -> str | None:
    action = payload.get("action")
    if not isinstance(action, str):  # push, create, delete, ...: no action to filter on
        return None
    allowed = flt.action_filter or (DEFAULT_PULL_REQUEST_ACTIONS if event_name in PULL_REQUEST_EVENTS else ())
    if not allowed or action in allowed:
        return None
    default = "" if flt.action_filter else " (the default for pull requests without action_filter)"
    return f"action {action!r} is not one of {', '.join(allowed)}{default}"


def _sender(flt: GithubFilter, _event_name: str, payload: Mapping[str, Any]) -> str | None:
    sender = _object(payload.get("sender"))
    login = _text(sender.get("login"))
    if flt.ignore_bots and (sender.get("type") == "Bot" or login.endswith("[bot]")):
        return f"the sender {login!r} is a bot (ignore_bots)"
    if flt.author_filter is not None:
        if not login:
            return "the event names no sender for author_filter"
        if len(login) > MAX_LOGIN_LENGTH or re.match(flt.author_filter, login) is None:
            return f"the sender {login[:MAX_LOGIN_LENGTH]!r} does not match author_filter {flt.author_filter!r}"
    return None


def _draft(flt: GithubFilter, _event_name: str, payload: Mapping[str, Any]) -> str | None:
    pull_request = payload.get("pull_request")
    if flt.draft_pr_handling == "include" or not isinstance(pull_request, Mapping):
        return None
    draft = bool(pull_request.get("draft"))
    if flt.draft_pr_handling == "ignore" and draft:
        return "the pull request is a draft (draft_pr_handling: ignore)"
    if flt.draft_pr_handling == "only" and not draft:
        return "the pull request is not a draft (draft_pr_handling: only)"
    return None


def _labels(flt: GithubFilter, _event_name: str, payload: Mapping[str, Any]) -> str | None:
    subject = payload.get("pull_request") or payload.get("issue")
    if not flt.label_filter or not isinstance(subject, Mapping):
        return None
    labels = [_text(_object(label).get("name")) for label in subject.get("labels") or ()]
    wanted = {name.casefold() for name in flt.label_filter}  # GitHub's label names ignore case
    if any(label.casefold() in wanted for label in labels):
        return None
    return f"labels ({', '.join(labels) or 'none'}) include none of label_filter ({', '.join(flt.label_filter)})"


def _refs(flt: GithubFilter, event_name: str, payload: Mapping[str, Any]) -> str | None:
    if event_name in PULL_REQUEST_EVENTS:
        base = _text(_object(_object(payload.get("pull_request")).get("base")).get("ref"))
        return _ref_filter(flt, "branches", base, "base branch")
    if event_name != "push":
        return None
    ref = _text(payload.get("ref"))
    has_branch_filters = bool(flt.branches or flt.branches_ignore)
    has_tag_filters = bool(flt.tags or flt.tags_ignore)
    if ref.startswith("refs/heads/"):
        if has_branch_filters:
            return _ref_filter(flt, "branches", ref.removeprefix("refs/heads/"), "branch")
        return "a branch push, and the trigger filters tags only" if has_tag_filters else None
    if ref.startswith("refs/tags/"):
        if has_tag_filters:
            return _ref_filter(flt, "tags", ref.removeprefix("refs/tags/"), "tag")
        return "a tag push, and the trigger filters branches only" if has_branch_filters else None
    return f"ref {ref!r} is neither a branch nor a tag" if has_branch_filters or has_tag_filters else None


def _ref_filter(flt: GithubFilter, kind: str, name: str, what: str) -> str | None:
    included, ignored = flt.compiled[kind], flt.compiled[f"{kind}_ignore"]
    if included and not included.matches(name):
        return f"{what} {name!r} does not match {kind}"
    if ignored and ignored.matches(name):
        return f"{what} {name!r} matches {kind}_ignore"
    return None


def _paths(
    flt: GithubFilter, event_name: str, payload: Mapping[str, Any], changed_files: Sequence[str] | None
) -> Match:
    tag_push = event_name == "push" and _text(payload.get("ref")).startswith("refs/tags/")
    if not flt.has_path_filters or event_name not in REF_EVENTS or tag_push:
        return MATCHED
    files = changed_files
    if files is None and event_name == "push":
        files = push_changed_files(payload)
    if files is None:
        source = "the pull request's files" if event_name in PULL_REQUEST_EVENTS else "the push's changed files"
        return Match(Outcome.NEEDS_CHANGED_FILES, f"the path filters need {source} from the GitHub API")
    if not files:
        return Match(Outcome.NOT_MATCHED, "no files changed, and the trigger filters paths")
    if flt.paths and not flt.compiled["paths"].matches_any(files):
        return Match(Outcome.NOT_MATCHED, f"none of the {len(files)} changed files matches paths")
    if flt.paths_ignore and flt.compiled["paths_ignore"].matches_all(files):
        return Match(Outcome.NOT_MATCHED, f"all {len(files)} changed files match paths_ignore")
    return MATCHED


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


# --- deploy-time validation -------------------------------------------------------------------------------------


def filter_problems(flt: GithubFilter) -> list[Problem]:
    """Every problem of the parameters beyond their types, each naming the field (and pattern) and why."""
    problems: list[Problem] = []

    def add(field: str, message: str) -> None:
        problems.append(Problem(f"parameters.{field}", message))

    for name in PATTERN_FIELDS:
        patterns = getattr(flt, name)
        if len(patterns) > MAX_PATTERNS:
            add(name, f"has {len(patterns)} patterns; at most {MAX_PATTERNS} are accepted")
        for problem in list_problems(patterns):
            add(f"{name}.{problem.index}", f"pattern {problem.pattern!r}: {problem.reason}")
    for kind in ("branches", "tags", "paths"):
        if getattr(flt, kind) and getattr(flt, f"{kind}_ignore"):
            add(
                f"{kind}_ignore",
                f"use either {kind!r} or '{kind}_ignore', not both (as in GitHub Actions): "
                f"to exclude some names, add '!' patterns to {kind!r}",
            )
    for field, applies_to in _APPLIES_TO.items():
        if getattr(flt, field) and not applies_to & set(flt.events):
            add(field, f"applies only to {' and '.join(sorted(applies_to))} events, and the trigger has none")
    for field, what in (("events", "event"), ("action_filter", "action")):
        for index, name in enumerate(getattr(flt, field)):
            if not _NAME.fullmatch(name):
                add(f"{field}.{index}", f"{name!r} is not a GitHub webhook {what} name")
    if flt.author_filter is not None:
        regex_problem = author_filter_problem(flt.author_filter)
        if regex_problem is not None:
            add("author_filter", regex_problem)
    return problems


_APPLIES_TO: dict[str, frozenset[str]] = {
    **{f: REF_EVENTS for f in ("branches", "branches_ignore", "paths", "paths_ignore")},
    **{f: frozenset({"push"}) for f in ("tags", "tags_ignore")},
}


def author_filter_problem(expression: str) -> str | None:
    """Why ``author_filter`` is refused, or None.

    Python's regular expressions backtrack, and the sender's login comes from outside: a quantified group that
    itself repeats or alternates (``(a+)+``, ``(a|ab)*``) or a back-reference could take minutes on one login.
    """
    if len(expression) > MAX_AUTHOR_FILTER_LENGTH:
        return f"is longer than {MAX_AUTHOR_FILTER_LENGTH} characters"
    try:
        re.compile(expression)
    except re.error as exc:
        return f"is not a valid regular expression: {exc}"
    return _backtracking_risk(expression)


def _backtracking_risk(expression: str) -> str | None:
    groups: list[bool] = []  # per open group: whether it repeats or alternates inside
    pos = 0
    while pos < len(expression):
        char = expression[pos]
        if char == "\\":
            if expression[pos + 1 : pos + 2].isdigit() and expression[pos + 1] != "0":
                return "may not use back-references"
            pos += 2
            continue
        if char == "[":  # a class: its quantifier-looking characters are literal
            end = expression.find("]", pos + 2 if expression[pos + 1 : pos + 2] in ("]", "^") else pos + 1)
            pos = (end if end != -1 else len(expression)) + 1
            continue
        if char == "(":
            groups.append(False)
            if expression[pos + 1 : pos + 2] == "?":
                pos += 1  # (?:, (?P<name>, (?i): the "?" is syntax, not a quantifier
        elif char == ")" and groups:
            inner = groups.pop()
            if inner and expression[pos + 1 : pos + 2] in ("*", "+", "{"):  # "?": at most once, harmless
                return "may not repeat a group that itself repeats or alternates (it can take exponential time)"
            if groups:
                groups[-1] = groups[-1] or inner
        elif char in "*+?{|" and groups:
            groups[-1] = True
        pos += 1
    return None
