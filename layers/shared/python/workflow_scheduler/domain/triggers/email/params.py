"""The parameters of an e-mail trigger (issue 10, docs/email.md): which mailbox and folder, how to log in, which
mail fires (``email_filter``), what the workflow gets, how often the folder is polled.

A trigger without ``imap_host`` watches the service-wide mailbox (``IMAP_SERVER``, ``EMAIL_USER``,
``EMAIL_PASSWORD``) and names no other connection or credential. One with ``imap_host`` names its ``username`` and
one credential: ``password`` (inline: moved into Secrets Manager at deploy, ``password_ref`` then names it) or
``password_ref``, or ``auth: "xoauth2"`` with an OAuth client whose secrets are Secrets Manager references.
``domain/triggers/email/service.py`` (``mailbox_config``, ``watch_from_target``) reads these names.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from workflow_scheduler.domain.triggers.email.filter import EmailFilterInvalid, parse_filter
from workflow_scheduler.domain.triggers.params import SECRET, SECRET_NAME, SECRET_REF_PATTERN, TriggerParams

# A host name, an IPv4 address or an IPv6 address (without brackets).
_HOST = r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,253}[A-Za-z0-9])?|[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*)$"
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
# What only a trigger with its own mailbox (imap_host) may set.
_CONNECTION = ("imap_port", "use_ssl", "username", "auth")
_PASSWORD = ("password", "password_ref")
_OAUTH = ("oauth_token_url", "oauth_client_id", "oauth_client_secret_ref", "oauth_refresh_token_ref", "oauth_scope")

SecretRef = Annotated[str | None, SECRET_NAME, Field(pattern=SECRET_REF_PATTERN)]


class EmailParams(TriggerParams):
    imap_host: str | None = Field(default=None, max_length=255, pattern=_HOST)
    imap_port: int = Field(default=993, ge=1, le=65535)  # 993 or 143 in AWS: the registrar checks the policy
    use_ssl: bool = True  # false: STARTTLS where the server offers it
    username: str | None = Field(default=None, min_length=1, max_length=320, pattern=r"^[^\x00-\x1f\x7f]+$")
    auth: Literal["password", "xoauth2"] = "password"
    password: str | None = Field(default=None, min_length=1, max_length=1024, json_schema_extra=SECRET)
    password_ref: str | None = Field(default=None, pattern=SECRET_REF_PATTERN)
    oauth_token_url: str | None = Field(default=None, max_length=2048)
    oauth_client_id: str | None = Field(default=None, min_length=1, max_length=512)
    oauth_client_secret_ref: SecretRef = None
    oauth_refresh_token_ref: SecretRef = None
    oauth_scope: str | None = Field(default=None, min_length=1, max_length=1024)
    folder: str = Field(default="INBOX", min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")
    email_filter: str = Field(default="", max_length=1024)
    mark_as_read: bool = False
    attachment_processing: Literal["include", "exclude", "metadata"] = "exclude"
    # Seconds between polls; the service's default (EMAIL_CHECK_INTERVAL) when unset. The floor is the service's
    # (EMAIL_MIN_CHECK_INTERVAL: 60 in AWS, where the poller runs every minute): the registrar checks it.
    check_interval: int | None = Field(default=None, ge=1, le=24 * 3600)
    process_existing: bool = False  # fire for the mail already in the folder at deploy, too

    @field_validator("email_filter")
    @classmethod
    def _filter_parses(cls, value: str) -> str:
        try:
            parse_filter(value)
        except EmailFilterInvalid as exc:
            raise ValueError(f"{exc.reason} at position {exc.position}") from None
        return value

    @field_validator("oauth_token_url")
    @classmethod
    def _token_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if not parts.hostname or re.search(r"\s", value) or parts.scheme not in ("https", "http"):
            raise ValueError("must be the https:// URL of the OAuth token endpoint")
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
            raise ValueError("must be https: the client's secrets travel to it (http only on loopback, for tests)")
        return value

    @model_validator(mode="after")
    def _one_mailbox_and_credential(self) -> EmailParams:
        given = {name for name in self.model_fields_set if getattr(self, name) is not None}
        if self.imap_host is None:
            named = [name for name in (*_CONNECTION, *_PASSWORD, *_OAUTH) if name in given]
            if named:
                raise ValueError(
                    f"{', '.join(named)}: only with 'imap_host'; a trigger without it watches the service's"
                    " mailbox (IMAP_SERVER, EMAIL_USER, EMAIL_PASSWORD)"
                )
            return self
        if self.username is None:
            raise ValueError("'imap_host' needs 'username' (the account to log in as)")
        if self.auth == "xoauth2":
            return self._oauth_client(given)
        if any(name in given for name in _OAUTH):
            raise ValueError("oauth_* parameters apply only with auth 'xoauth2'")
        if self.password is not None and self.password_ref is not None:
            raise ValueError("give either 'password' or 'password_ref', not both")
        if self.password is None and self.password_ref is None:
            raise ValueError("'imap_host' needs 'password' or 'password_ref' (a Secrets Manager secret)")
        return self

    def _oauth_client(self, given: set[str]) -> EmailParams:
        if any(name in given for name in _PASSWORD):
            raise ValueError("auth 'xoauth2' logs in with an OAuth token: give no 'password' or 'password_ref'")
        missing = [name for name in ("oauth_token_url", "oauth_client_id") if name not in given]
        if missing:
            raise ValueError(f"auth 'xoauth2' needs {' and '.join(repr(m) for m in missing)}")
        if self.oauth_client_secret_ref is None and self.oauth_refresh_token_ref is None:
            raise ValueError(
                "auth 'xoauth2' needs 'oauth_refresh_token_ref' or 'oauth_client_secret_ref' (or both):"
                " a refresh token, or a client secret for the client-credentials grant"
            )
        return self
