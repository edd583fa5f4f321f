"""An OAuth 2 provider on loopback for the XOAUTH2 tests: a token endpoint (refresh-token and client-credentials
grants, client secret in the form) and an RFC 7662 introspection endpoint that Dovecot's oauth2 passdb asks."""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

HOST = "127.0.0.1"


@dataclass(frozen=True)
class OAuthClientRecord:
    client_id: str
    client_secret: str
    username: str  # the mailbox the client's tokens open
    refresh_token: str


@dataclass
class OAuthProvider:
    clients: dict[str, OAuthClientRecord] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # access token -> username
    token_requests: list[dict[str, str]] = field(default_factory=list)
    introspections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_client(self, username: str) -> OAuthClientRecord:
        record = OAuthClientRecord(
            client_id=f"client-{secrets.token_hex(4)}",
            client_secret=secrets.token_urlsafe(16),
            username=username,
            refresh_token=secrets.token_urlsafe(24),
        )
        with self.lock:
            self.clients[record.client_id] = record
        return record

    def issue(self, username: str) -> str:
        """An access token for ``username``, as if a client had been granted one."""
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = username
        return token

    def revoke_all(self) -> None:
        with self.lock:
            self.tokens.clear()

    def token_response(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.token_requests.append(form)
            record = self.clients.get(form.get("client_id", ""))
        if record is None or not secrets.compare_digest(form.get("client_secret", ""), record.client_secret):
            return 401, {"error": "invalid_client", "error_description": "unknown client or wrong secret"}
        grant = form.get("grant_type")
        if grant == "refresh_token":
            if not secrets.compare_digest(form.get("refresh_token", ""), record.refresh_token):
                return 400, {"error": "invalid_grant", "error_description": "refresh token expired or revoked"}
        elif grant != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        return 200, {"access_token": self.issue(record.username), "token_type": "Bearer", "expires_in": 3600}

    def introspection(self, form: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            self.introspections += 1
            username = self.tokens.get(form.get("token", ""))
        return {"active": False} if username is None else {"active": True, "username": username}


class _Handler(BaseHTTPRequestHandler):
    server: OAuthServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        provider = self.server.provider
        if self.path == "/token":
            status, body = provider.token_response(form)
        elif self.path == "/introspect":
            status, body = 200, provider.introspection(form)
        else:
            status, body = 404, {"error": "not_found"}
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read the provider's records instead."""


class OAuthServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__((HOST, 0), _Handler)
        self.provider = OAuthProvider()
        self._thread = threading.Thread(target=self.serve_forever, name="oauth-provider", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"

    @property
    def introspection_url(self) -> str:
        return f"{self.base_url}/introspect"

    def start(self) -> OAuthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
