"""A fake GitHub REST API on loopback: the calls a GitHub App makes, checked as GitHub checks them.

App calls need an RS256 JWT from the App's key (``iss`` the App id, ``iat``/``exp`` at most 10 minutes apart, not
expired by the fake's clock); repository calls need an unexpired installation token of an installation that
can see the repository. Lists are paginated with ``Link`` headers, pull request files stop at 3,000 like
GitHub's, a diff marked too large is refused with 406, and ``fail_next`` injects 403/429 answers.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # one per test run: generating is slow
APP_PRIVATE_KEY = _KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()
PULL_REQUEST_FILES_LIMIT = 3000
COMPARE_FILES_LIMIT = 300


@dataclass
class FakePull:
    data: dict[str, Any]
    files: list[dict[str, Any]] = field(default_factory=list)
    diff: str = ""
    diff_too_large: bool = False


@dataclass
class Failure:
    path_contains: str
    status: int
    headers: dict[str, str]
    message: str


class GithubError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class FakeGithub:
    app_id: str = "4242"
    clock: Callable[[], float] = time.time
    token_ttl_seconds: int = 3600
    installations: dict[int, set[str]] = field(default_factory=dict)  # id -> repositories it can see
    pulls: dict[tuple[str, int], FakePull] = field(default_factory=dict)
    commits: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    comparisons: dict[tuple[str, str, str], list[dict[str, Any]]] = field(default_factory=dict)
    deliveries: list[dict[str, Any]] = field(default_factory=list)  # newest first, as GitHub lists them
    redelivered: list[int] = field(default_factory=list)
    link_base: str | None = None  # where Link headers point; None: this server
    # What the fake saw.
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path with query)
    token_requests: int = 0
    jwt_headers: list[dict[str, Any]] = field(default_factory=list)
    jwt_claims: list[dict[str, Any]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    _tokens: dict[str, tuple[int, float]] = field(default_factory=dict)
    url: str = ""

    def fail_next(
        self, path_contains: str, status: int, headers: dict[str, str] | None = None, message: str = "", times: int = 1
    ) -> None:
        self.failures += [Failure(path_contains, status, headers or {}, message)] * times

    def add_pull(self, repository: str, number: int, pull: FakePull) -> None:
        self.pulls[(repository, number)] = pull

    # --- the API -------------------------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        self.requests.append((method, target))
        path, query = urlsplit(target).path, parse_qs(urlsplit(target).query)
        for failure in self.failures:
            if failure.path_contains in path:
                self.failures.remove(failure)
                return _json(failure.status, {"message": failure.message}, failure.headers)
        try:
            return self._route(method, path, query, headers)
        except GithubError as exc:
            return _json(exc.status, {"message": str(exc)})

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[:2] == ["app", "installations"] and parts[3:] == ["access_tokens"] and method == "POST":
            self._check_app_jwt(headers)
            return self._issue_token(int(parts[2]))
        if parts[:3] == ["app", "hook", "deliveries"]:
            self._check_app_jwt(headers)
            if len(parts) == 5 and parts[4] == "attempts" and method == "POST":
                self.redelivered.append(int(parts[3]))
                return _json(202, {})
            return self._page(path, query, self.deliveries)
        if parts[0] != "repos" or len(parts) < 4:
            raise GithubError(404, "Not Found")
        repository = f"{parts[1]}/{parts[2]}"
        self._check_token(headers, repository)
        return self._repository_call(repository, parts[3:], path, query, headers)

    def _repository_call(
        self, repository: str, rest: list[str], path: str, query: dict[str, list[str]], headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        if rest[0] == "pulls" and len(rest) >= 2:
            pull = self.pulls.get((repository, int(rest[1])))
            if pull is None:
                raise GithubError(404, "Not Found")
            if rest[2:] == ["files"]:
                return self._page(path, query, pull.files[:PULL_REQUEST_FILES_LIMIT])
            if "diff" in headers.get("accept", ""):
                if pull.diff_too_large:
                    message = "Sorry, the diff exceeded the maximum number of files (300). Consider using 'List pull requests files' API or locally cloning the repository instead."  # noqa: E501
                    errors = [{"resource": "PullRequest", "field": "diff", "code": "too_large"}]
                    return _json(406, {"message": message, "errors": errors})
                return 200, {"Content-Type": "text/x-diff; charset=utf-8"}, pull.diff.encode()
            return _json(200, pull.data)
        if rest[0] == "commits" and len(rest) == 2:
            commit = self.commits.get((repository, rest[1]))
            if commit is None:
                raise GithubError(404, "No commit found for SHA: " + rest[1])
            return _json(200, commit)
        if rest[0] == "compare" and len(rest) == 2:
            base, _, head = rest[1].partition("...")
            files = self.comparisons.get((repository, base, head))
            if files is None:
                raise GithubError(404, "Not Found")
            return _json(200, {"status": "ahead", "commits": [], "files": files[:COMPARE_FILES_LIMIT]})
        raise GithubError(404, "Not Found")

    def _page(
        self, path: str, query: dict[str, list[str]], items: list[dict[str, Any]]
    ) -> tuple[int, dict[str, str], bytes]:
        per_page = min(int(query.get("per_page", ["30"])[0]), 100)
        page = int(query.get("page", ["1"])[0])
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(items):
            base = self.link_base or self.url
            headers["Link"] = f'<{base}{path}?per_page={per_page}&page={page + 1}>; rel="next"'
        return _json(200, chunk, headers)

    # --- credentials ---------------------------------------------------------------------------------------------

    def _check_app_jwt(self, headers: dict[str, str]) -> None:
        token = headers.get("authorization", "").removeprefix("Bearer ")
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(
                token,
                _KEY.public_key(),
                algorithms=["RS256"],  # GitHub takes RS256 only
                options={"verify_exp": False, "verify_iat": False, "require": ["iat", "exp", "iss"]},
            )
        except jwt.PyJWTError as exc:
            raise GithubError(401, f"A JSON web token could not be decoded: {exc}") from None
        self.jwt_headers.append(header)
        self.jwt_claims.append(claims)
        now = self.clock()
        if str(claims["iss"]) != self.app_id:
            raise GithubError(401, "'Issuer' claim ('iss') must be the App's id")
        if claims["exp"] - claims["iat"] > 600 or claims["exp"] > now + 600:
            raise GithubError(401, "'Expiration time' claim ('exp') is too far in the future")
        if claims["exp"] <= now or claims["iat"] > now + 60:
            raise GithubError(401, "'Expiration time' claim ('exp') must be a numeric value representing the future")

    def _issue_token(self, installation_id: int) -> tuple[int, dict[str, str], bytes]:
        if installation_id not in self.installations:
            raise GithubError(404, "Not Found")
        self.token_requests += 1
        token = "ghs_" + secrets.token_hex(16)
        expires_at = self.clock() + self.token_ttl_seconds
        self._tokens[token] = (installation_id, expires_at)
        stamp = datetime.fromtimestamp(expires_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return _json(201, {"token": token, "expires_at": stamp, "permissions": {"pull_requests": "read"}})

    def _check_token(self, headers: dict[str, str], repository: str) -> None:
        authorization = headers.get("authorization", "")
        token = authorization.removeprefix("Bearer ").removeprefix("token ")
        installation_id, expires_at = self._tokens.get(token, (None, 0.0))
        if installation_id is None or expires_at <= self.clock():
            raise GithubError(401, "Bad credentials")
        if repository not in self.installations.get(installation_id, set()):
            raise GithubError(404, "Not Found")

    # --- serving -------------------------------------------------------------------------------------------------

    @contextmanager
    def serving(self) -> Iterator[FakeGithub]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, extra, body = fake.handle(self.command, self.path, headers)
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        self.url = f"http://127.0.0.1:{server.server_port}"
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}, json.dumps(body).encode()
