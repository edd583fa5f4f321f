"""What the GitHub trigger asks of GitHub's REST API, as the domain sees it (``adapters/github_app.py`` implements it).

Every call acts for one App installation, whose token the adapter obtains and caches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from workflow_scheduler.domain.errors import Unavailable


class GithubApiError(Unavailable):
    """GitHub refused or failed a call; ``status`` is its HTTP status when it answered."""

    code = "github_unavailable"

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class GithubUnreachable(GithubApiError):
    """GitHub did not answer (a timeout, a refused connection): worth trying again later."""

    code = "github_unreachable"


class GithubRateLimited(GithubApiError):
    """GitHub's rate limit holds for longer than the client may wait."""

    code = "github_rate_limited"

    def __init__(self, message: str, retry_after_seconds: float | None, status: int | None = None) -> None:
        super().__init__(message, status)
        self.retry_after_seconds = retry_after_seconds

    def headers(self) -> dict[str, str]:
        return {} if self.retry_after_seconds is None else {"Retry-After": str(round(self.retry_after_seconds))}


class GithubDiffTooLarge(GithubApiError):
    """GitHub does not render this pull request's diff (too many files or lines)."""

    code = "github_diff_too_large"


@dataclass(frozen=True)
class FileList:
    """Changed files as GitHub lists them (``filename``, ``status``, ``additions``, ... per file)."""

    files: tuple[Mapping[str, Any], ...]
    complete: bool  # False when a GitHub limit cut the list (3,000 files of a pull request, 300 of a comparison)

    @property
    def names(self) -> list[str]:
        """The changed paths: each file's name and, for a rename, its old name (both paths changed)."""
        names: dict[str, None] = {}
        for entry in self.files:
            for key in ("filename", "previous_filename"):
                if isinstance(entry.get(key), str):
                    names[entry[key]] = None
        return list(names)


@dataclass(frozen=True)
class Diff:
    text: str
    truncated: bool  # cut at the size the caller asked for


class GithubApi(Protocol):
    def pull_request(self, installation_id: int, repository: str, number: int) -> dict[str, Any]: ...

    def pull_request_files(self, installation_id: int, repository: str, number: int) -> FileList:
        """All the pull request's files, page by page, up to GitHub's 3,000."""
        ...

    def pull_request_diff(self, installation_id: int, repository: str, number: int, max_bytes: int) -> Diff:
        """The unified diff, cut at ``max_bytes``; ``GithubDiffTooLarge`` when GitHub refuses to render it."""
        ...

    def commit(self, installation_id: int, repository: str, sha: str) -> dict[str, Any]: ...

    def compare(self, installation_id: int, repository: str, base: str, head: str) -> FileList:
        """The files changed between two commits (``base...head``), up to GitHub's 300."""
        ...


class GithubAppDeliveries(Protocol):
    """The App's webhook deliveries, for the redelivery sweep (GitHub never retries a failed delivery)."""

    def list_deliveries(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """Recent deliveries, newest first, back to ``since`` (``id``, ``guid``, ``status_code``, ``event``, ...)."""
        ...

    def redeliver(self, delivery_id: int) -> None: ...
