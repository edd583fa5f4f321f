"""Access tokens for XOAUTH2 from an OAuth 2 token endpoint (RFC 6749): the refresh-token grant when the client
has a refresh token (Gmail, Microsoft 365 delegated access), else client credentials (Microsoft 365 app-only).

The client authenticates with its id and secret in the form (``client_secret_post``), which both accept. A
token is reused until a minute before it expires. Refusals name the endpoint's ``error`` code, never a secret.

The endpoint is a tenant's choice: it is reached only where the outbound policy allows, at an address that was
checked (``Destinations``), over http.client, whose ``connect()`` is the documented place to open the socket
ourselves; TLS still checks the certificate against the URL's host name. Redirects are not followed. Every failure
before the endpoint answers is the same refusal with the same message (as for IMAP servers: imap_mailbox.py).
"""

from __future__ import annotations

import http.client
import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from workflow_scheduler.adapters.outbound import PUBLIC_ONLY, Destinations
from workflow_scheduler.domain.errors import safe_message
from workflow_scheduler.domain.outbound import HTTPS_PORTS, DestinationRefused
from workflow_scheduler.domain.triggers.email.mailbox import OAuthTokenRefused
from workflow_scheduler.observability import logger

TIMEOUT_SECONDS = 10.0
MAX_RESPONSE_BYTES = 1024 * 1024  # a token answer is a few KiB
# A token this close to its expiry is renewed: an IMAP login with it could fail half way through the poll.
EXPIRY_MARGIN_SECONDS = 60.0
DEFAULT_LIFETIME_SECONDS = 3600.0  # when the endpoint does not say
MAX_DESCRIPTION_CHARS = 300


@dataclass(frozen=True)
class OAuthClient:
    token_url: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    scope: str | None = None

    def form(self) -> dict[str, str]:
        form = {"client_id": self.client_id}
        if self.refresh_token:
            form.update(grant_type="refresh_token", refresh_token=self.refresh_token)
        else:
            form["grant_type"] = "client_credentials"
        if self.client_secret:
            form["client_secret"] = self.client_secret
        if self.scope:
            form["scope"] = self.scope
        return form


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to an address ``destinations`` allowed: only with the local setting (tests), which ignores ports."""

    def __init__(self, host: str, port: int, destinations: Destinations, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._destinations = destinations

    def connect(self) -> None:
        self.sock = self._destinations.connect(self.host, self.port, HTTPS_PORTS, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to an address ``destinations`` allowed; the certificate is checked against the host name."""

    def __init__(self, host: str, port: int, destinations: Destinations, timeout: float, tls: ssl.SSLContext | None):
        self._tls = tls or ssl.create_default_context()  # the system's trusted certificates, host name checked
        super().__init__(host, port, timeout=timeout, context=self._tls)
        self._destinations = destinations

    def connect(self) -> None:
        sock = self._destinations.connect(self.host, self.port, HTTPS_PORTS, self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


class OAuthTokenSource:
    """A callable giving a valid access token for the client, asking the endpoint only when needed."""

    def __init__(
        self,
        client: OAuthClient,
        destinations: Destinations = PUBLIC_ONLY,
        timeout: float = TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        ssl_context: ssl.SSLContext | None = None,  # None: the system's trusted certificates
    ) -> None:
        self._client = client
        self._destinations = destinations
        self._ssl_context = ssl_context
        self._timeout = timeout
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0

    def __call__(self) -> str:
        if self._token is None or self._clock() >= self._expires_at - EXPIRY_MARGIN_SECONDS:
            self._token, lifetime = self._request()
            self._expires_at = self._clock() + lifetime
        return self._token

    def _post(self) -> tuple[int, bytes]:
        """The endpoint's status and body; ``DestinationRefused``, ``OSError`` or ``HTTPException`` before that."""
        url = urlsplit(self._client.token_url)
        problem = self._destinations.policy.token_url_problem(self._client.token_url)
        if problem is not None or url.hostname is None:
            raise DestinationRefused(f"oauth_token_url {problem or 'has no host'}")
        # The port always given: without it http.client reads an IPv6 host's last group as one.
        connection: http.client.HTTPConnection
        if url.scheme == "https":
            tls = self._ssl_context
            connection = _PinnedHTTPSConnection(url.hostname, url.port or 443, self._destinations, self._timeout, tls)
        else:
            connection = _PinnedHTTPConnection(url.hostname, url.port or 80, self._destinations, self._timeout)
        try:
            connection.request(
                "POST",
                (url.path or "/") + (f"?{url.query}" if url.query else ""),
                body=urlencode(self._client.form()),
                headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
            )
            response = connection.getresponse()
            return response.status, response.read(MAX_RESPONSE_BYTES)
        finally:
            connection.close()

    def _request(self) -> tuple[str, float]:
        host = urlsplit(self._client.token_url).hostname
        try:
            status, body = self._post()
        except (DestinationRefused, OSError, http.client.HTTPException) as exc:
            # The cause goes to our logs, never to the tenant: the answer must not tell which ports are open.
            logger.info("OAuth token endpoint not reached", extra={"host": host, "cause": repr(exc)[:300]})
            raise OAuthTokenRefused(
                f"could not reach the OAuth token endpoint at {host} within {self._timeout:g} s"
                " (https on port 443, public addresses only, a trusted certificate)"
            ) from None
        answer = _json(body)
        token = answer.get("access_token")
        if status == 200 and isinstance(token, str) and token:
            return token, _lifetime(answer.get("expires_in"))
        error = str(answer.get("error") or f"HTTP {status}")
        description = str(answer.get("error_description") or "")[:MAX_DESCRIPTION_CHARS]
        detail = f"{error}: {description}" if description else error
        for secret in (self._client.client_secret, self._client.refresh_token):
            detail = safe_message(detail, secret, secret=True)
        where = f"the OAuth token endpoint at {host}"
        raise OAuthTokenRefused(f"{where} refused client {self._client.client_id!r}: {detail}")


def _json(body: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(body)
    except ValueError:  # UnicodeDecodeError too
        return {}
    return answer if isinstance(answer, dict) else {}


def _lifetime(expires_in: object) -> float:
    if not isinstance(expires_in, int | float | str):
        return DEFAULT_LIFETIME_SECONDS
    try:
        seconds = float(expires_in)
    except ValueError:
        return DEFAULT_LIFETIME_SECONDS
    return seconds if seconds > 0 else DEFAULT_LIFETIME_SECONDS
