"""The trigger data's ``enrichment``: what GitHub's API adds to a matched event (docs/github.md), fetched later.

For a pull request: the pull request as it is now, its files and its diff (the file list stands in when GitHub
will not render a large diff). For a push: the first commits in detail, the rest by sha. A call that fails
leaves its part out and says what is missing and why; the firing goes ahead with what there is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from workflow_scheduler.domain.triggers.github.api import FileList, GithubApi, GithubApiError, GithubDiffTooLarge
from workflow_scheduler.domain.triggers.github.filters import push_commits_incomplete

_ZERO_SHA = "0" * 40
_PULL_REQUEST_FIELDS = (
    "number",
    "title",
    "state",
    "draft",
    "merged",
    "mergeable",
    "mergeable_state",
    "additions",
    "deletions",
    "changed_files",
    "commits",
    "html_url",
)
_FILE_FIELDS = ("filename", "status", "additions", "deletions", "changes", "previous_filename")
T = TypeVar("T")


@dataclass(frozen=True)
class EnrichmentLimits:
    """Bounds on what one firing carries: the trigger data travels through a queue to the engine."""

    max_files: int = 300
    max_diff_bytes: int = 64 * 1024
    max_commits: int = 20  # fetched in detail; the rest are listed by sha


def fetch_changed_files(api: GithubApi, installation_id: int, payload: Mapping[str, Any]) -> FileList:
    """The files a pull request or push changed, for path filters; ``GithubApiError`` when GitHub cannot say.

    A push is compared from the commit before it; a new branch (no commit before) from the default branch.
    """
    repository = _repository(payload)
    pull_request = payload.get("pull_request")
    if isinstance(pull_request, Mapping):
        return api.pull_request_files(installation_id, repository, int(pull_request["number"]))
    before, after = str(payload.get("before") or _ZERO_SHA), str(payload.get("after") or "")
    if before == _ZERO_SHA:
        before = str(_mapping(payload.get("repository")).get("default_branch") or "")
    if not before or not after or after == _ZERO_SHA:
        raise GithubApiError("the event names no commits to compare")
    return api.compare(installation_id, repository, before, after)


def enrich(
    api: GithubApi,
    installation_id: int,
    payload: Mapping[str, Any],
    *,
    files: FileList | None = None,
    limits: EnrichmentLimits | None = None,
) -> dict[str, Any]:
    """The ``enrichment`` section of the trigger data; ``files`` when the caller fetched them already (to match)."""
    limits = limits or EnrichmentLimits()
    out: dict[str, Any] = {"missing": [], "notes": []}
    try:
        repository = _repository(payload)
    except GithubApiError as exc:
        out["missing"].append({"what": "everything", "reason": exc.message})
        return out

    pull_request = payload.get("pull_request")
    if isinstance(pull_request, Mapping) and isinstance(pull_request.get("number"), int):
        number = int(pull_request["number"])
        current = _attempt(out, "pull_request", partial(api.pull_request, installation_id, repository, number))
        if current is not None:
            out["pull_request"] = _pull_request(current)
        if files is None:
            files = _attempt(out, "files", partial(api.pull_request_files, installation_id, repository, number))
        _add_diff(out, api, installation_id, repository, number, limits, files)
    elif isinstance(payload.get("commits"), list) and not payload.get("deleted"):
        shas = [str(c["id"]) for c in payload["commits"] if isinstance(c, Mapping) and c.get("id")]
        details = [
            _attempt(out, f"commit {sha}", partial(api.commit, installation_id, repository, sha))
            for sha in shas[: limits.max_commits]
        ]
        out["commits"] = [_commit(c) for c in details if c is not None]
        out["more_commits"] = shas[limits.max_commits :]
        if push_commits_incomplete(payload):
            out["notes"].append(f"the push has more commits than its payload lists ({len(shas)} listed)")
    if files is not None:
        out["files"] = [_pick(f, _FILE_FIELDS) for f in files.files[: limits.max_files]]
        out["files_total"] = len(files.files)
        out["files_complete"] = files.complete  # False: GitHub's own limit cut the list
        if len(files.files) > limits.max_files:
            out["notes"].append(f"the first {limits.max_files} of {len(files.files)} files are listed")
    return out


def _attempt(out: dict[str, Any], what: str, call: Callable[[], T]) -> T | None:
    """The call's result; None, recording what is missing and why, when GitHub fails it."""
    try:
        return call()
    except GithubApiError as exc:
        out["missing"].append({"what": what, "reason": exc.message})
        return None


def _add_diff(
    out: dict[str, Any],
    api: GithubApi,
    installation_id: int,
    repository: str,
    number: int,
    limits: EnrichmentLimits,
    files: FileList | None,
) -> None:
    try:
        diff = api.pull_request_diff(installation_id, repository, number, limits.max_diff_bytes)
    except GithubDiffTooLarge as exc:
        out["diff"] = None
        stand_in = "the file list stands in for it" if files is not None else "and the file list is missing too"
        out["notes"].append(f"GitHub does not render this pull request's diff ({exc.message}); {stand_in}")
        return
    except GithubApiError as exc:
        out["missing"].append({"what": "diff", "reason": exc.message})
        return
    out["diff"] = diff.text
    out["diff_truncated"] = diff.truncated
    if diff.truncated:
        out["notes"].append(f"the diff is cut at {limits.max_diff_bytes} bytes")


def _pull_request(data: Mapping[str, Any]) -> dict[str, Any]:
    picked = _pick(data, _PULL_REQUEST_FIELDS)
    for side in ("head", "base"):
        ref = data.get(side)
        if isinstance(ref, Mapping):
            picked[side] = _pick(ref, ("ref", "sha", "label"))
    user = data.get("user")
    if isinstance(user, Mapping):
        picked["user"] = user.get("login")
    picked["labels"] = [label.get("name") for label in data.get("labels") or () if isinstance(label, Mapping)]
    return picked


def _commit(data: Mapping[str, Any]) -> dict[str, Any]:
    inner = _mapping(data.get("commit"))
    files = data.get("files")
    return {
        "sha": data.get("sha"),
        "message": inner.get("message"),
        "author": inner.get("author"),
        "committer": inner.get("committer"),
        "verified": _mapping(inner.get("verification")).get("verified"),
        "parents": [p.get("sha") for p in data.get("parents") or () if isinstance(p, Mapping)],
        "stats": data.get("stats"),
        "files_changed": len(files) if isinstance(files, list) else None,
    }


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _pick(data: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: data[f] for f in fields if f in data}


def _repository(payload: Mapping[str, Any]) -> str:
    name = _mapping(payload.get("repository")).get("full_name")
    if not isinstance(name, str) or "/" not in name:
        raise GithubApiError("the event names no repository")
    return name
