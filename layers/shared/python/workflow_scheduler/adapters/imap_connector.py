"""How the e-mail poller logs in: the ``MailboxOpener`` of domain/triggers/email/poll.py, and the service-wide
mailbox (seed: ``IMAP_SERVER``, ``EMAIL_USER``, ``EMAIL_PASSWORD``).

A trigger's password comes from Secrets Manager by its ``password_ref`` (the secret reader caches it); an XOAUTH2
trigger's access token from its OAuth client, whose secrets are refs too (one token source per client, reused
while the token lasts). After a refused login the credential's values are read afresh on the next attempt, so a
password corrected in Secrets Manager is used at once rather than after the cache expires. The service-wide
mailbox is configured by variables locally and by one JSON secret in AWS (its keys are the variables' names).

A trigger's own server and OAuth token endpoint are reached only where the outbound policy allows (``destinations``:
domain/outbound.py); the service-wide mailbox is the operator's choice and goes wherever they configured it.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable
from typing import Any

from workflow_scheduler.adapters.imap_mailbox import (
    ImapMailbox,
    ImapServer,
    MailboxLogin,
    PasswordLogin,
    XOAuth2Login,
    open_mailbox,
)
from workflow_scheduler.adapters.oauth_token import OAuthClient, OAuthTokenSource
from workflow_scheduler.adapters.outbound import PUBLIC_ONLY, Destinations
from workflow_scheduler.domain.errors import SecretUnavailable
from workflow_scheduler.domain.triggers.email.mailbox import (
    Credential,
    MailboxRefused,
    OAuthSecrets,
    PasswordSecret,
    ServicePassword,
)
from workflow_scheduler.domain.triggers.email.poll import MailboxAccess
from workflow_scheduler.domain.triggers.email.service import DefaultMailbox

# Reads a secret's value by name; ``fresh`` skips the cache.
SecretReader = Callable[..., str]


class ServiceMailbox:
    """The service-wide mailbox: from ``server``/``username``/``password`` (locally), or from the JSON secret
    ``secret_arn`` with the keys ``IMAP_SERVER``, ``EMAIL_USER``, ``EMAIL_PASSWORD`` (and ``IMAP_USE_SSL``)."""

    def __init__(
        self,
        *,
        server: str | None = None,
        username: str | None = None,
        password: str | None = None,
        use_ssl: bool = True,
        secret_arn: str | None = None,
        read_secret: SecretReader | None = None,
    ) -> None:
        if secret_arn is not None and read_secret is None:
            raise ValueError("a secret_arn needs a read_secret")
        self._fixed = {
            "IMAP_SERVER": server,
            "EMAIL_USER": username,
            "EMAIL_PASSWORD": password,
            "IMAP_USE_SSL": use_ssl,
        }
        self._secret_arn = secret_arn
        self._read_secret = read_secret

    def _values(self, fresh: bool = False) -> dict[str, Any]:
        if self._secret_arn is None or self._read_secret is None:
            return self._fixed
        try:
            values = json.loads(self._read_secret(self._secret_arn, fresh=fresh))
        except ValueError as exc:
            raise SecretUnavailable("the service mailbox's secret is not a JSON object") from exc
        if not isinstance(values, dict):
            raise SecretUnavailable("the service mailbox's secret is not a JSON object")
        return values

    def __call__(self) -> DefaultMailbox | None:
        """The mailbox, or None when none is configured (a trigger naming no mailbox is then refused)."""
        values = self._values()
        server, username = values.get("IMAP_SERVER"), values.get("EMAIL_USER")
        if not (isinstance(server, str) and server and isinstance(username, str) and username):
            return None
        return DefaultMailbox.parse(server, username, use_ssl=str(values.get("IMAP_USE_SSL", True)).lower() != "false")

    def password(self, fresh: bool = False) -> str:
        password = self._values(fresh).get("EMAIL_PASSWORD")
        if not isinstance(password, str) or not password:
            raise SecretUnavailable("the service mailbox has no EMAIL_PASSWORD")
        return password


class MailboxConnector:
    """Opens a logged-in session with a mailbox's server settings and credential (``MailboxOpener``)."""

    def __init__(
        self,
        read_secret: SecretReader,
        service_mailbox: ServiceMailbox | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
        destinations: Destinations = PUBLIC_ONLY,
        always_fresh: bool = False,
    ) -> None:
        self._read_secret = read_secret
        self._service = service_mailbox
        self._ssl_context = ssl_context  # None: the system's trusted certificates (tests trust their own server)
        self._destinations = destinations  # a trigger's own server and token endpoint
        # Every login with the secrets as they are now, nothing cached: a deploy checks what it just wrote.
        self._always_fresh = always_fresh
        self._tokens: dict[OAuthSecrets, OAuthTokenSource] = {}
        self._refused: set[Credential] = set()  # read afresh at the next login

    def __call__(self, access: MailboxAccess) -> ImapMailbox:
        address, credential = access.mailbox, access.credential
        operators = isinstance(credential, ServicePassword)  # the service-wide mailbox
        server = ImapServer(
            address.host,
            port=address.port,
            use_ssl=access.use_ssl,
            ssl_context=self._ssl_context,
            destinations=self._destinations.unrestricted() if operators else self._destinations,
        )
        try:
            mailbox = open_mailbox(server, self._login(address.username, credential))
        except MailboxRefused:
            self._refused.add(credential)
            if isinstance(credential, OAuthSecrets):
                self._tokens.pop(credential, None)  # a new client and token next time
            raise
        self._refused.discard(credential)
        return mailbox

    def _login(self, username: str, credential: Credential) -> MailboxLogin:
        fresh = self._always_fresh or credential in self._refused
        if isinstance(credential, ServicePassword):
            if self._service is None:
                raise SecretUnavailable("the service mailbox is not configured")
            return PasswordLogin(username, self._service.password(fresh))
        if isinstance(credential, PasswordSecret):
            return PasswordLogin(username, self._read_secret(credential.secret_ref, fresh=fresh))
        source = None if fresh else self._tokens.get(credential)
        if source is None:
            client = OAuthClient(
                credential.token_url,
                credential.client_id,
                client_secret=self._secret(credential.client_secret_ref, fresh),
                refresh_token=self._secret(credential.refresh_token_ref, fresh),
                scope=credential.scope,
            )
            source = OAuthTokenSource(client, self._destinations, ssl_context=self._ssl_context)
            self._tokens[credential] = source
        return XOAuth2Login(username, source)

    def _secret(self, ref: str | None, fresh: bool) -> str | None:
        return None if ref is None else self._read_secret(ref, fresh=fresh)
