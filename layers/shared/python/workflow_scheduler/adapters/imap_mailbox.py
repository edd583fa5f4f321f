"""The e-mail trigger's mailbox over IMAP (imapclient): the ``Mailbox`` port of domain/triggers/email/mailbox.py.

It connects with TLS (``use_ssl``) or in plain text upgraded by STARTTLS when the server offers it, with
timeouts; logs in with a password or XOAUTH2; selects the folder read-only unless it must set ``\\Seen``;
searches UIDs above a cursor together with the filter's SEARCH keys; fetches headers and structure, then whole
messages, always with ``BODY.PEEK`` so that reading marks nothing. Every failure becomes one of the domain's
mailbox errors, whose messages never hold the password or token.

The connection goes where the server's ``destinations`` allow (adapters/outbound.py): to an address that was
checked, with the host name kept for TLS. Until the server has greeted us, every failure (a destination refused, a
name that does not resolve, a closed port, a timeout, TLS) is the same ``MailboxUnreachable`` with the same message:
the answer must not tell a tenant which ports of which hosts are open. The cause goes to our logs only.
"""

from __future__ import annotations

import imaplib
import socket
import ssl
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from email import message_from_string, policy
from email.message import EmailMessage
from functools import partial
from types import TracebackType
from typing import Any

from imapclient import SEEN, IMAPClient, SocketTimeout
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError
from imapclient.imap4 import IMAP4WithTimeout
from imapclient.tls import IMAP4_TLS, wrap_socket

from workflow_scheduler.adapters.outbound import PUBLIC_ONLY, Destinations
from workflow_scheduler.domain.errors import safe_message
from workflow_scheduler.domain.outbound import IMAP_PORTS, DestinationRefused
from workflow_scheduler.domain.triggers.email.mailbox import (
    FolderState,
    MailboxFailed,
    MailboxFolderNotFound,
    MailboxLoginRefused,
    MailboxRefused,
    MailboxTlsFailed,
    MailboxUnreachable,
    MessageSummary,
)
from workflow_scheduler.domain.triggers.email.message import header_facts, is_attachment
from workflow_scheduler.observability import logger

CONNECT_TIMEOUT_SECONDS = 10.0
READ_TIMEOUT_SECONDS = 60.0
SUMMARY_BATCH = 200  # UIDs per FETCH of headers and structure
MESSAGE_BATCH = 10  # UIDs per FETCH of whole messages (each may be megabytes)
HEADER_FIELDS = "FROM TO CC SUBJECT DATE MESSAGE-ID"
MAX_DETAIL_CHARS = 300


@dataclass(frozen=True)
class ImapServer:
    host: str
    port: int = 993
    use_ssl: bool = True
    # None: the system's trusted certificates, host name checked. Tests pass one that trusts their own server.
    ssl_context: ssl.SSLContext | None = field(default=None, compare=False)
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS
    read_timeout: float = READ_TIMEOUT_SECONDS
    # Where a connection may go: public addresses on the IMAP ports, unless the caller says otherwise.
    destinations: Destinations = field(default=PUBLIC_ONLY, compare=False)

    @property
    def where(self) -> str:
        return f"IMAP server {self.host}:{self.port}"

    def unreachable(self) -> MailboxUnreachable:
        """The one answer to every failure before the server's greeting (the module's docstring says why)."""
        how = "over TLS" if self.use_ssl else "for STARTTLS"
        return MailboxUnreachable(
            f"could not reach an IMAP server at {self.host}:{self.port} {how} within {self.connect_timeout:g} s"
            " (the host must resolve to public addresses only; port 993 takes use_ssl true, 143 use_ssl false;"
            " the certificate must be trusted)"
        )

    def context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()


@dataclass(frozen=True)
class PasswordLogin:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class XOAuth2Login:
    username: str
    access_token: Callable[[], str] = field(repr=False)  # asked at each login (see adapters/oauth_token.py)


MailboxLogin = PasswordLogin | XOAuth2Login


def _detail(exc: BaseException, *secrets: str) -> str:
    text = str(exc)[:MAX_DETAIL_CHARS]
    for secret in secrets:
        text = safe_message(text, secret, secret=True)
    return text


class _PinnedIMAP4(IMAP4WithTimeout):  # type: ignore[misc]
    """imaplib's IMAP4 (plain text, for STARTTLS) on a socket opened by ``open_socket``."""

    def __init__(self, open_socket: Callable[[float | None], socket.socket], host: str, port: int, timeout: float):
        self._open_socket = open_socket
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        return self._open_socket(self._timeout if timeout is None else timeout)


class _PinnedIMAP4TLS(IMAP4_TLS):  # type: ignore[misc]
    """imapclient's IMAP4 over TLS on a socket opened by ``open_socket``; TLS still names the host (SNI, and the
    certificate is checked against the host name, not the address)."""

    def __init__(
        self,
        open_socket: Callable[[float | None], socket.socket],
        host: str,
        port: int,
        ssl_context: ssl.SSLContext,
        timeout: float,
    ):
        self._open_socket = open_socket
        super().__init__(host, port, ssl_context, timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        sock = self._open_socket(self._timeout if timeout is None else timeout)
        return wrap_socket(sock, self.ssl_context, self.host)  # type: ignore[no-any-return]


class _PinnedIMAPClient(IMAPClient):  # type: ignore[misc]
    """IMAPClient whose connection is opened by ``server.destinations``: its one way to create the connection
    (``_create_IMAP4``) is replaced, nothing else."""

    def __init__(self, server: ImapServer) -> None:
        self._open_socket = partial(server.destinations.connect, server.host, server.port, IMAP_PORTS)
        super().__init__(
            server.host,
            port=server.port,
            ssl=server.use_ssl,
            ssl_context=server.context() if server.use_ssl else None,
            timeout=SocketTimeout(connect=server.connect_timeout, read=server.read_timeout),
        )

    def _create_IMAP4(self) -> imaplib.IMAP4:
        timeout = self._timeout.connect
        if self.ssl:
            return _PinnedIMAP4TLS(self._open_socket, self.host, self.port, self.ssl_context, timeout)
        return _PinnedIMAP4(self._open_socket, self.host, self.port, timeout)


def _connect(server: ImapServer) -> IMAPClient:
    try:
        return _PinnedIMAPClient(server)
    except (DestinationRefused, OSError, IMAPClientError) as exc:  # OSError: DNS, TCP, TLS and timeouts alike
        logger.info(
            "IMAP server not reached",
            extra={"host": server.host, "port": server.port, "use_ssl": server.use_ssl, "cause": _cause(exc)},
        )
        raise server.unreachable() from None


def _cause(exc: BaseException) -> str:
    """What went wrong before the greeting, for our logs only (no credential has been sent yet)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {exc.verify_message}"
    return f"{type(exc).__name__}: {_detail(exc)}"


def _start_tls(client: IMAPClient, server: ImapServer) -> None:
    try:
        if not client.has_capability("STARTTLS"):
            # The trigger asked for no TLS and the server offers none: its choice (issue 10), but a visible one.
            logger.warning("IMAP server offers no STARTTLS: logging in over plain text", extra={"host": server.host})
            return
        client.starttls(server.context())
    except ssl.SSLCertVerificationError as exc:
        raise MailboxTlsFailed(f"the TLS certificate of {server.where} is not trusted: {exc.verify_message}") from exc
    except (ssl.SSLError, IMAPClientError) as exc:
        raise MailboxTlsFailed(f"STARTTLS with {server.where} failed: {_detail(exc)}") from exc
    except OSError as exc:
        raise MailboxFailed(f"{server.where} closed the connection during STARTTLS: {_detail(exc)}") from exc


def _login(client: IMAPClient, server: ImapServer, login: MailboxLogin) -> None:
    secret = ""
    try:
        if isinstance(login, PasswordLogin):
            secret = login.password
            client.login(login.username, login.password)
            return
        secret = login.access_token()
        if not client.has_capability("AUTH=XOAUTH2"):
            raise MailboxLoginRefused(f"{server.where} does not offer XOAUTH2 logins")
        client.oauth2_login(login.username, secret)
    except LoginError as exc:
        detail = _detail(exc, secret)
        # No chained cause: nothing of the exchange (which held the credential) travels further.
        raise MailboxLoginRefused(f"{server.where} refused the login of {login.username!r}: {detail}") from None
    except (IMAPClientError, OSError) as exc:
        raise MailboxFailed(f"{server.where} failed during the login: {_detail(exc, secret)}") from None


def open_mailbox(server: ImapServer, login: MailboxLogin) -> ImapMailbox:
    """A logged-in session; close it (or use it as a context manager)."""
    client = _connect(server)
    try:
        if not server.use_ssl:
            _start_tls(client, server)
        _login(client, server, login)
    except BaseException:
        _shut(client)
        raise
    return ImapMailbox(client, server)


def check_mailbox(server: ImapServer, login: MailboxLogin, folder: str) -> FolderState:
    """Deploy-time check: log in and select the folder read-only; its UIDVALIDITY and UIDNEXT."""
    with open_mailbox(server, login) as mailbox:
        return mailbox.select(folder)


def _shut(client: IMAPClient) -> None:
    try:
        client.logout()
    except (IMAPClientError, OSError):
        with suppress(IMAPClientError, OSError):  # the connection is gone already
            client.shutdown()


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return "" if value is None else str(value)


def _pairs(value: object) -> list[tuple[str, str]]:
    """A BODYSTRUCTURE parameter list (name value name value ...) as pairs."""
    if not isinstance(value, tuple | list):
        return []
    items = [_text(item) for item in value]
    return list(zip(items[::2], items[1::2], strict=False))


def _parameters(pairs: list[tuple[str, str]]) -> str:
    out = ""
    for name, value in pairs:
        if name.endswith("*"):  # an RFC 2231 extended value: written as it came, never quoted
            out += f"; {name}={value}"
        else:
            escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ")
            out += f'; {name}="{escaped}"'
    return out


def _part_filename(content_type: str, params: list[tuple[str, str]], disposition: object) -> tuple[str | None, str]:
    """(disposition, filename) of a part, decoded by the same parser that reads full messages (message.py)."""
    disposition_type = _text(disposition[0]).lower() if isinstance(disposition, tuple | list) and disposition else ""
    headers = f"Content-Type: {content_type}{_parameters(params)}\n"
    if disposition_type:
        disposition_params = _pairs(disposition[1]) if isinstance(disposition, tuple | list) and disposition[1:] else []
        headers += f"Content-Disposition: {disposition_type}{_parameters(disposition_params)}\n"
    part = message_from_string(headers + "\n", policy=policy.default)
    filename = part.get_filename() if isinstance(part, EmailMessage) else None
    return (disposition_type or None), (filename or "")


# Where the disposition sits in a single part's BODYSTRUCTURE (RFC 3501 7.4.2): after the fields every part has
# (7), text parts' line count, and message/rfc822 parts' envelope, body and line count, then the MD5.
_DISPOSITION_INDEX = {"text": 9, "message/rfc822": 11}


def attachment_names(structure: Any) -> list[str]:
    """One name per attachment ("" for an unnamed one), by the same rule as message.py, from a BODYSTRUCTURE."""
    if structure is None or not isinstance(structure, tuple | list) or not structure:
        return []
    if isinstance(structure[0], list):  # multipart: imapclient nests the parts in one list
        return [name for part in structure[0] for name in attachment_names(part)]
    content_type = f"{_text(structure[0])}/{_text(structure[1])}".lower()
    index = _DISPOSITION_INDEX.get(content_type, _DISPOSITION_INDEX.get(content_type.split("/")[0], 8))
    disposition = structure[index] if len(structure) > index else None
    params = _pairs(structure[2]) if len(structure) > 2 else []
    disposition_type, filename = _part_filename(content_type, params, disposition)
    return [filename] if is_attachment(content_type, disposition_type, filename) else []


def _chunks(uids: Sequence[int], size: int) -> Iterator[list[int]]:
    ordered = sorted(set(uids))
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


class ImapMailbox:
    """One logged-in IMAP session (see ``open_mailbox``)."""

    def __init__(self, client: IMAPClient, server: ImapServer) -> None:
        self._client = client
        self._server = server
        self._folder: str | None = None
        self._readonly = True
        self._state: FolderState | None = None

    def __enter__(self) -> ImapMailbox:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def _session(self, action: str) -> Iterator[None]:
        """A break in the session (connection lost, timeout, unexpected answer) is ``MailboxFailed``."""
        try:
            yield
        except (MailboxRefused, MailboxFailed):
            raise
        except (IMAPClientError, OSError) as exc:
            raise MailboxFailed(f"{action} on {self._server.where} failed: {_detail(exc)}") from exc

    def select(self, folder: str, readonly: bool = True) -> FolderState:
        with self._session(f"selecting folder {folder!r}"):
            try:
                answer = self._client.select_folder(folder, readonly=readonly)
            except IMAPClientAbortError:
                raise
            except IMAPClientError as exc:
                raise MailboxFolderNotFound(
                    f"folder {folder!r} cannot be opened on {self._server.where}: {_detail(exc)}"
                ) from exc
            uidnext = answer.get(b"UIDNEXT")
            if uidnext is None:  # optional in a SELECT answer; STATUS always has it
                uidnext = self._client.folder_status(folder, [b"UIDNEXT"])[b"UIDNEXT"]
            state = FolderState(uidvalidity=int(answer[b"UIDVALIDITY"]), uidnext=int(uidnext))
        self._folder, self._readonly, self._state = folder, readonly, state
        return state

    def search(self, after_uid: int, criteria: Sequence[str] = ()) -> list[int]:
        keys = ["UID", f"{after_uid + 1}:*", *criteria]
        charset = None if all(key.isascii() for key in keys) else "UTF-8"
        with self._session("searching"):
            found = self._client.search(keys, charset)
        # "n:*" also names the last message when every UID is below n: only UIDs above the cursor count.
        return sorted(uid for uid in found if uid > after_uid)

    def summaries(self, uids: Sequence[int]) -> list[MessageSummary]:
        header_item = f"BODY.PEEK[HEADER.FIELDS ({HEADER_FIELDS})]"
        out: list[MessageSummary] = []
        for chunk in _chunks(uids, SUMMARY_BATCH):
            with self._session("fetching headers"):
                fetched = self._client.fetch(chunk, [header_item, "BODYSTRUCTURE", "RFC822.SIZE"])
            for uid in chunk:
                data = fetched.get(uid, {})
                if b"BODYSTRUCTURE" not in data:
                    continue  # expunged meanwhile
                headers = next((v for k, v in data.items() if k.startswith(b"BODY[HEADER")), b"")
                facts = header_facts(headers or b"", attachment_names(data[b"BODYSTRUCTURE"]))
                out.append(MessageSummary(uid=uid, facts=facts, size=int(data.get(b"RFC822.SIZE") or 0)))
        return out

    def fetch(self, uids: Sequence[int]) -> dict[int, bytes]:
        out: dict[int, bytes] = {}
        for chunk in _chunks(uids, MESSAGE_BATCH):
            with self._session("fetching messages"):
                fetched = self._client.fetch(chunk, ["BODY.PEEK[]"])
            for uid in chunk:
                raw = fetched.get(uid, {}).get(b"BODY[]")
                if isinstance(raw, bytes):
                    out[uid] = raw
        return out

    def mark_seen(self, uids: Sequence[int]) -> None:
        if not uids:
            return
        if self._folder is None or self._state is None:
            raise ValueError("select a folder before marking messages seen")
        if self._readonly:
            before = self._state
            if self.select(self._folder, readonly=False).uidvalidity != before.uidvalidity:
                raise MailboxFailed(f"UIDVALIDITY of folder {self._folder!r} changed during the poll: nothing marked")
        with self._session("marking messages seen"):
            self._client.add_flags(sorted(set(uids)), [SEEN], silent=True)

    def close(self) -> None:
        _shut(self._client)
