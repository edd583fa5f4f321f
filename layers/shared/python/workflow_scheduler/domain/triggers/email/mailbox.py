"""What the e-mail trigger needs from a mailbox (the IMAP adapter implements it), and the errors it reports.

The errors that say the mailbox cannot be used as configured (unreachable host, TLS, refused login, missing
folder, refused OAuth client) are ``Invalid``: a deploy answers them with a 422 that says why. A connection
lost in the middle of a poll is ``MailboxFailed`` (an outage). No message ever holds a password or a token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from workflow_scheduler.domain.errors import Invalid, Unavailable
from workflow_scheduler.domain.triggers.email.filter import MessageFacts


class MailboxRefused(Invalid):
    """The mailbox cannot be used as configured."""

    code = "mailbox_refused"


class MailboxUnreachable(MailboxRefused):
    code = "imap_unreachable"


class MailboxTlsFailed(MailboxRefused):
    code = "imap_tls_failed"


class MailboxLoginRefused(MailboxRefused):
    code = "imap_login_refused"


class MailboxFolderNotFound(MailboxRefused):
    code = "imap_folder_not_found"


class OAuthTokenRefused(MailboxRefused):
    """The OAuth token endpoint refused the client (or could not be reached): no access token to log in with."""

    code = "oauth_token_refused"


class MailboxFailed(Unavailable):
    """The IMAP session broke after it had started (connection lost, timeout, protocol error)."""

    code = "imap_failed"


class AttachmentStoreUnavailable(Unavailable):
    code = "attachment_store_unavailable"


@dataclass(frozen=True)
class ServicePassword:
    """The service-wide mailbox's own password (``EMAIL_PASSWORD``), for triggers that name no mailbox."""

    @property
    def secret_refs(self) -> tuple[str, ...]:
        return ()

    @property
    def key(self) -> str:
        return "service"


@dataclass(frozen=True)
class PasswordSecret:
    """A password kept in Secrets Manager under ``secret_ref`` (an inline one was moved there at deploy)."""

    secret_ref: str

    @property
    def secret_refs(self) -> tuple[str, ...]:
        return (self.secret_ref,)

    @property
    def key(self) -> str:
        return f"password:{self.secret_ref}"


@dataclass(frozen=True)
class OAuthSecrets:
    """XOAUTH2 with an access token from an OAuth client's token endpoint; its secrets are Secrets Manager refs."""

    token_url: str
    client_id: str
    client_secret_ref: str | None = None
    refresh_token_ref: str | None = None
    scope: str | None = None

    @property
    def secret_refs(self) -> tuple[str, ...]:
        return tuple(ref for ref in (self.client_secret_ref, self.refresh_token_ref) if ref)

    @property
    def key(self) -> str:
        return f"xoauth2:{self.token_url}|{self.client_id}|{'|'.join(self.secret_refs)}|{self.scope or ''}"


Credential = ServicePassword | PasswordSecret | OAuthSecrets
SERVICE_PASSWORD = ServicePassword()


@dataclass(frozen=True)
class FolderState:
    """A folder's UIDVALIDITY and UIDNEXT: a UID means the same message only while UIDVALIDITY stays."""

    uidvalidity: int
    uidnext: int


@dataclass(frozen=True)
class MessageSummary:
    """A message as known before its body is fetched: headers and attachment names (from its structure)."""

    uid: int
    facts: MessageFacts
    size: int


class Mailbox(Protocol):
    """One logged-in session on a mailbox. Nothing here marks a message read except ``mark_seen``."""

    def select(self, folder: str, readonly: bool = True) -> FolderState: ...

    def search(self, after_uid: int, criteria: Sequence[str] = ()) -> list[int]:
        """UIDs above ``after_uid`` in the selected folder that meet the IMAP SEARCH keys, ascending."""

    def summaries(self, uids: Sequence[int]) -> list[MessageSummary]:
        """Headers and structure of these messages (those still there), by ascending UID."""

    def fetch(self, uids: Sequence[int]) -> dict[int, bytes]:
        """The full RFC 822 text of these messages (those still there)."""

    def mark_seen(self, uids: Sequence[int]) -> None: ...

    def close(self) -> None: ...
