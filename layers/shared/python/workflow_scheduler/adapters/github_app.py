"""A GitHub App's REST client: the domain's ``GithubApi`` and ``GithubAppDeliveries`` over ``requests``.

App calls (installation tokens, webhook deliveries) carry an RS256 JWT signed with the App's key, issued 60 s in
the past against clock drift and valid 9 minutes (GitHub accepts at most 10). Repository calls carry the
installation's token, cached until 5 minutes before it expires and fetched again once if GitHub refuses it.

Rate limits: a 403 or 429 with ``Retry-After`` waits that long; with ``x-ratelimit-remaining: 0`` until
``x-ratelimit-reset`` (and later calls with the same credentials wait without asking); a secondary limit
without either backs off exponentially from a minute, as GitHub asks. Waits add up to at most
``max_wait_seconds`` per call: past that the call raises ``GithubRateLimited`` at once, with the time to wait.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

import jwt
import requests

from workflow_scheduler.adapters.engine import parse_retry_after
from workflow_scheduler.domain.triggers.github.api import (
    Diff,
    FileList,
    GithubApiError,
    GithubDiffTooLarge,
    GithubRateLimited,
    GithubUnreachable,
)

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
JWT_BACKDATE_SECONDS = 60
JWT_LIFETIME_SECONDS = 540  # GitHub refuses an exp more than 10 minutes after the time it checks
TOKEN_REFRESH_MARGIN_SECONDS = 300
PER_PAGE = 100
PULL_REQUEST_FILES_LIMIT = 3000  # GitHub lists at most this many files of a pull request
COMPARE_FILES_LIMIT = 300  # and this many of a comparison
MAX_ATTEMPTS = 6
MAX_DELIVERY_PAGES = 10
_RATE_LIMITED = (403, 429)
_ERROR_CHARS = 300


class GithubAppClient:
    def __init__(
        self,
        app_id: str,
        private_key: str,
        *,
        api_url: str = DEFAULT_API_URL,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (3.05, 10.0),
        max_wait_seconds: float = 20.0,
        secondary_backoff_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._app_id = app_id
        self._private_key = private_key
        self._api_url = api_url.rstrip("/")
        self._origin = urlsplit(self._api_url)[:2]
        self._session = session or requests.Session()
        self._timeout = timeout
        self._max_wait = max_wait_seconds
        self._secondary_backoff = secondary_backoff_seconds
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens: dict[int, tuple[str, float]] = {}  # installation id -> (token, expires at)
        self._exhausted_until: dict[str, float] = {}  # credentials ("app" or installation id) -> reset time

    # --- credentials ---------------------------------------------------------------------------------------------

    def app_jwt(self) -> str:
        now = int(self._clock())
        claims = {"iat": now - JWT_BACKDATE_SECONDS, "exp": now + JWT_LIFETIME_SECONDS, "iss": self._app_id}
        try:
            return jwt.encode(claims, self._private_key, algorithm="RS256")
        except (
            ValueError,
            TypeError,
            jwt.PyJWTError,
        ) as exc:  # not a PEM RSA private key; the key itself is never quoted
            raise GithubApiError(f"the GitHub App's private key cannot sign: {type(exc).__name__}") from None

    def installation_token(self, installation_id: int) -> str:
        with self._lock:
            cached = self._tokens.get(installation_id)
            if cached is not None and cached[1] - TOKEN_REFRESH_MARGIN_SECONDS > self._clock():
                return cached[0]
        response = self._send("POST", f"/app/installations/{installation_id}/access_tokens", None)
        body = self._json(response, f"installation {installation_id}'s token")
        try:
            token = str(body["token"])
            expires_at = datetime.fromisoformat(str(body["expires_at"]).replace("Z", "+00:00")).timestamp()
        except (KeyError, ValueError) as exc:
            raise GithubApiError(f"GitHub's installation token answer lacks {exc}") from None
        with self._lock:
            self._tokens[installation_id] = (token, expires_at)
        return token

    # --- GithubApi -----------------------------------------------------------------------------------------------

    def pull_request(self, installation_id: int, repository: str, number: int) -> dict[str, Any]:
        response = self._send("GET", f"{_repo_path(repository)}/pulls/{number}", installation_id)
        return self._json(response, f"pull request #{number}")

    def pull_request_files(self, installation_id: int, repository: str, number: int) -> FileList:
        path = f"{_repo_path(repository)}/pulls/{number}/files"
        files = list(self._pages(path, installation_id, f"pull request #{number}'s files", PULL_REQUEST_FILES_LIMIT))
        return FileList(tuple(files), complete=len(files) < PULL_REQUEST_FILES_LIMIT)

    def pull_request_diff(self, installation_id: int, repository: str, number: int, max_bytes: int) -> Diff:
        path = f"{_repo_path(repository)}/pulls/{number}"
        response = self._send("GET", path, installation_id, accept="application/vnd.github.diff", stream=True)
        with response:
            if _diff_refused(response):
                raise GithubDiffTooLarge(_message(response), response.status_code)
            self._check(response, f"pull request #{number}'s diff")
            chunks, size = [], 0
            for chunk in response.iter_content(chunk_size=16384):
                chunks.append(chunk)
                size += len(chunk)
                if size > max_bytes:
                    break
        data = b"".join(chunks)
        return Diff(data[:max_bytes].decode("utf-8", errors="replace"), truncated=len(data) > max_bytes)

    def commit(self, installation_id: int, repository: str, sha: str) -> dict[str, Any]:
        response = self._send("GET", f"{_repo_path(repository)}/commits/{quote(sha, safe='')}", installation_id)
        return self._json(response, f"commit {sha}")

    def compare(self, installation_id: int, repository: str, base: str, head: str) -> FileList:
        # The files come whole on the first page; one commit per page keeps that page small.
        path = f"{_repo_path(repository)}/compare/{quote(base, safe='')}...{quote(head, safe='')}"
        response = self._send("GET", path, installation_id, params={"per_page": 1})
        files = self._json(response, f"the comparison {base}...{head}").get("files") or []
        return FileList(tuple(files), complete=len(files) < COMPARE_FILES_LIMIT)

    # --- GithubAppDeliveries -------------------------------------------------------------------------------------

    def list_deliveries(self, since: datetime | None = None) -> list[dict[str, Any]]:
        deliveries: list[dict[str, Any]] = []
        pages = self._pages("/app/hook/deliveries", None, "the App's deliveries", PER_PAGE * MAX_DELIVERY_PAGES)
        for delivery in pages:
            delivered = _timestamp(delivery.get("delivered_at"))
            if since is not None and delivered is not None and delivered < since:
                break  # newest first: the rest are older still
            deliveries.append(delivery)
        return deliveries

    def redeliver(self, delivery_id: int) -> None:
        response = self._send("POST", f"/app/hook/deliveries/{delivery_id}/attempts", None)
        self._check(response, f"the redelivery of delivery {delivery_id}")

    # --- transport -----------------------------------------------------------------------------------------------

    def _pages(self, path: str, installation_id: int | None, what: str, limit: int) -> Iterator[dict[str, Any]]:
        """The items of a list, page by page along the ``Link: rel="next"`` headers, up to ``limit``."""
        url: str | None = path
        params: dict[str, Any] | None = {"per_page": PER_PAGE}
        count = 0
        while url is not None:
            response = self._send("GET", url, installation_id, params=params)
            items = self._json_list(response, what)
            yield from items[: limit - count]
            count += min(len(items), limit - count)
            following = response.links.get("next", {}).get("url")
            # Never send the credentials to another host than the API's.
            url = following if count < limit and following and self._same_origin(following) else None
            params = None  # the next link carries them

    def _send(
        self,
        method: str,
        path_or_url: str,
        installation_id: int | None,
        *,
        params: dict[str, Any] | None = None,
        accept: str = "application/vnd.github+json",
        stream: bool = False,
    ) -> requests.Response:
        url = path_or_url if path_or_url.startswith(("http://", "https://")) else self._api_url + path_or_url
        key = "app" if installation_id is None else str(installation_id)
        waited, refreshed = 0.0, False
        for attempt in range(MAX_ATTEMPTS):
            waited += self._wait_for_reset(key, waited)
            token = self.app_jwt() if installation_id is None else self.installation_token(installation_id)
            headers = {
                "Authorization": f"Bearer {token}",
                "Accept": accept,
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": "workflow-scheduler",
            }
            try:
                response = self._session.request(
                    method, url, params=params, headers=headers, timeout=self._timeout, stream=stream
                )
            except requests.Timeout:
                raise GithubUnreachable(f"GitHub did not answer within {self._timeout[1]:g} s") from None
            except requests.RequestException as exc:
                raise GithubUnreachable(f"cannot reach GitHub: {type(exc).__name__}") from None
            self._note_exhaustion(key, response)
            if response.status_code == 401 and installation_id is not None and not refreshed:
                with self._lock:  # revoked or expired early: one more try with a new token
                    self._tokens.pop(installation_id, None)
                refreshed = True
                continue
            wait = self._rate_limit_wait(response, attempt)
            if wait is None:
                return response
            response.close()
            if waited + wait > self._max_wait:
                raise GithubRateLimited(
                    f"GitHub's rate limit holds for another {wait:.0f} s", wait, response.status_code
                )
            self._sleep(wait)
            waited += wait
        raise GithubRateLimited(f"GitHub refused {MAX_ATTEMPTS} attempts for its rate limit", None)

    def _wait_for_reset(self, key: str, waited: float) -> float:
        """Wait out a rate limit these credentials exhausted earlier; how long it waited."""
        with self._lock:
            until = self._exhausted_until.get(key, 0.0)
        wait = until - self._clock()
        if wait <= 0:
            return 0.0
        if waited + wait > self._max_wait:
            raise GithubRateLimited(f"GitHub's rate limit holds for another {wait:.0f} s", wait)
        self._sleep(wait)
        return wait

    def _note_exhaustion(self, key: str, response: requests.Response) -> None:
        remaining, reset = response.headers.get("x-ratelimit-remaining"), response.headers.get("x-ratelimit-reset")
        if remaining == "0" and reset and reset.isdigit():
            with self._lock:
                self._exhausted_until[key] = float(reset) + 1  # the reset second itself may still be refused

    def _rate_limit_wait(self, response: requests.Response, attempt: int) -> float | None:
        """How long to wait before trying again, or None when the answer is not a rate limit."""
        if response.status_code not in _RATE_LIMITED:
            return None
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is not None:
            return retry_after
        reset = response.headers.get("x-ratelimit-reset")
        if response.headers.get("x-ratelimit-remaining") == "0" and reset and reset.isdigit():
            return max(0.0, float(reset) + 1 - self._clock())
        if response.status_code == 429 or "rate limit" in response.text.lower():
            return float(self._secondary_backoff * 2**attempt)
        return None  # a plain 403: permission refused

    def _same_origin(self, url: str) -> bool:
        return urlsplit(url)[:2] == self._origin

    def _check(self, response: requests.Response, what: str) -> None:
        if not 200 <= response.status_code < 300:
            raise GithubApiError(
                f"GitHub answered {response.status_code} for {what}: {_message(response)}", response.status_code
            )

    def _json(self, response: requests.Response, what: str) -> dict[str, Any]:
        body = self._decoded(response, what)
        if not isinstance(body, dict):
            raise GithubApiError(f"GitHub's answer for {what} is not a JSON object", response.status_code)
        return body

    def _json_list(self, response: requests.Response, what: str) -> list[dict[str, Any]]:
        body = self._decoded(response, what)
        if not isinstance(body, list):
            raise GithubApiError(f"GitHub's answer for {what} is not a JSON list", response.status_code)
        return [item for item in body if isinstance(item, dict)]

    def _decoded(self, response: requests.Response, what: str) -> Any:
        self._check(response, what)
        try:
            return response.json()
        except ValueError:
            raise GithubApiError(f"GitHub's answer for {what} is not JSON", response.status_code) from None


def _repo_path(repository: str) -> str:
    owner, _, name = repository.partition("/")
    if not owner or not name:
        raise GithubApiError(f"repository {repository!r} is not owner/name")
    return f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}"


def _diff_refused(response: requests.Response) -> bool:
    """GitHub answers 406 when a diff has too many files or lines, and 422 when it takes too long to render."""
    if response.status_code == 406:
        return True
    text = response.text.lower()
    return response.status_code == 422 and any(s in text for s in ("too_large", "too large", "exceeded", "too long"))


def _timestamp(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _message(response: requests.Response) -> str:
    """GitHub's ``message``, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    said = body.get("message") if isinstance(body, dict) else None
    return (said if isinstance(said, str) else response.text.strip() or response.reason or "no message")[:_ERROR_CHARS]
