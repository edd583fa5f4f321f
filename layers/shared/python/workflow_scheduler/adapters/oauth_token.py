"""Access tokens for XOAUTH2 from an OAuth 2 token endpoint (RFC 6749): the refresh-token grant when the client
has a refresh token (Gmail, Microsoft 365 delegated access), else client credentials (Microsoft 365 app-only).

The client authenticates with its id and secret in the form (``client_secret_post``), which both accept. A
token is reused until a minute before it expires. Refusals name the endpoint's ``error`` code, never a secret.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from workflow_scheduler.domain.errors import safe_message
from workflow_scheduler.domain.triggers.email.mailbox import OAuthTokenRefused

TIMEOUT_SECONDS = 10.0
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


class OAuthTokenSource:
    """A callable giving a valid access token for the client, asking the endpoint only when needed."""

    def __init__(
        self,
        client: OAuthClient,
        session: requests.Session | None = None,
        timeout: float = TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._session = session or requests.Session()
        self._timeout = timeout
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0

    def __call__(self) -> str:
        if self._token is None or self._clock() >= self._expires_at - EXPIRY_MARGIN_SECONDS:
            self._token, lifetime = self._request()
            self._expires_at = self._clock() + lifetime
        return self._token

    def _request(self) -> tuple[str, float]:
        where = f"the OAuth token endpoint {self._client.token_url!r}"
        try:
            response = self._session.post(
                self._client.token_url,
                data=self._client.form(),
                headers={"Accept": "application/json"},
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise OAuthTokenRefused(f"{where} cannot be reached ({type(exc).__name__})") from None
        body = _json(response)
        token = body.get("access_token")
        if response.status_code == 200 and isinstance(token, str) and token:
            return token, _lifetime(body.get("expires_in"))
        error = str(body.get("error") or f"HTTP {response.status_code}")
        description = str(body.get("error_description") or "")[:MAX_DESCRIPTION_CHARS]
        detail = f"{error}: {description}" if description else error
        for secret in (self._client.client_secret, self._client.refresh_token):
            detail = safe_message(detail, secret, secret=True)
        raise OAuthTokenRefused(f"{where} refused client {self._client.client_id!r}: {detail}")


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _lifetime(expires_in: object) -> float:
    if not isinstance(expires_in, int | float | str):
        return DEFAULT_LIFETIME_SECONDS
    try:
        seconds = float(expires_in)
    except ValueError:
        return DEFAULT_LIFETIME_SECONDS
    return seconds if seconds > 0 else DEFAULT_LIFETIME_SECONDS
