"""An in-memory IMAP account for unit tests of the e-mail poller: folders with UIDs, UIDVALIDITY and flags.

Its SEARCH ignores the filter's keys (a server with the loosest search): the poller's own checks must still
fire exactly the matching mail. Faults are injected per operation with ``fail``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage

from workflow_scheduler.domain.triggers.email.mailbox import (
    FolderState,
    MailboxFailed,
    MailboxFolderNotFound,
    MessageSummary,
)
from workflow_scheduler.domain.triggers.email.message import header_facts, parse_message
from workflow_scheduler.domain.triggers.email.poll import Cursor, MailboxAddress


@dataclass
class FakeFolder:
    uidvalidity: int = 1000
    uidnext: int = 1
    messages: dict[int, bytes] = field(default_factory=dict)
    flags: dict[int, set[str]] = field(default_factory=dict)

    def append(self, message: EmailMessage | bytes, *flags: str) -> int:
        uid = self.uidnext
        self.uidnext += 1
        self.messages[uid] = message if isinstance(message, bytes) else message.as_bytes()
        self.flags[uid] = set(flags)
        return uid

    def rebuild(self) -> None:
        """A new UIDVALIDITY, as after the server rebuilt the folder; the messages keep their UIDs."""
        self.uidvalidity += 1

    def seen(self) -> set[int]:
        return {uid for uid, flags in self.flags.items() if r"\Seen" in flags}


@dataclass
class FakeAccount:
    folders: dict[str, FakeFolder] = field(default_factory=lambda: {"INBOX": FakeFolder()})
    fail: dict[str, Exception] = field(default_factory=dict)  # operation -> error raised once
    calls: list[str] = field(default_factory=list)
    sessions: int = 0
    open_sessions: int = 0

    @property
    def inbox(self) -> FakeFolder:
        return self.folders["INBOX"]

    def open(self, *_: object) -> FakeSession:
        self.maybe_fail("open")
        self.sessions += 1
        self.open_sessions += 1
        return FakeSession(self)

    def maybe_fail(self, operation: str) -> None:
        error = self.fail.pop(operation, None)
        if error is not None:
            raise error


class FakeSession:
    def __init__(self, account: FakeAccount) -> None:
        self._account = account
        self._folder: FakeFolder | None = None
        self._readonly = True

    def _selected(self) -> FakeFolder:
        if self._folder is None:
            raise MailboxFailed("no folder selected")
        return self._folder

    def select(self, folder: str, readonly: bool = True) -> FolderState:
        self._account.calls.append(f"select {folder} {'ro' if readonly else 'rw'}")
        self._account.maybe_fail("select")
        if folder not in self._account.folders:
            raise MailboxFolderNotFound(f"folder {folder!r} cannot be opened")
        self._folder, self._readonly = self._account.folders[folder], readonly
        return FolderState(self._folder.uidvalidity, self._folder.uidnext)

    def search(self, after_uid: int, criteria: Sequence[str] = ()) -> list[int]:
        self._account.calls.append(f"search >{after_uid}")
        self._account.maybe_fail("search")
        return sorted(uid for uid in self._selected().messages if uid > after_uid)

    def summaries(self, uids: Sequence[int]) -> list[MessageSummary]:
        self._account.calls.append(f"summaries {list(uids)}")
        self._account.maybe_fail("summaries")
        out = []
        for uid in sorted(uids):
            raw = self._selected().messages.get(uid)
            if raw is not None:
                names = [a.filename for a in parse_message(raw).attachments]
                headers = raw.split(b"\n\n", 1)[0]
                out.append(MessageSummary(uid, header_facts(headers, names), len(raw)))
        return out

    def fetch(self, uids: Sequence[int]) -> dict[int, bytes]:
        self._account.calls.append(f"fetch {list(uids)}")
        self._account.maybe_fail("fetch")
        folder = self._selected()
        return {uid: folder.messages[uid] for uid in uids if uid in folder.messages}

    def mark_seen(self, uids: Sequence[int]) -> None:
        self._account.calls.append(f"seen {list(uids)}")
        self._account.maybe_fail("mark_seen")
        if self._readonly:
            raise MailboxFailed("folder selected read-only")
        for uid in uids:
            self._selected().flags[uid].add(r"\Seen")

    def close(self) -> None:
        self._account.open_sessions -= 1


class MemoryCursors:
    """The poller's ``CursorStore`` in a dict by (workflow id, trigger id); ``fail_save`` makes the next save
    fail, as a poller that dies between the queue and the cursor."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], Cursor] = {}
        self.fail_save = False

    def load(self, workflow_id: str, trigger_id: str, mailbox: MailboxAddress) -> Cursor | None:
        return self.values.get((workflow_id, trigger_id))

    def save(self, workflow_id: str, trigger_id: str, mailbox: MailboxAddress, cursor: Cursor) -> None:
        if self.fail_save:
            self.fail_save = False
            raise MailboxFailed("the poller died before the cursor was saved")
        self.values[(workflow_id, trigger_id)] = cursor


class ManualClock:
    """A clock the test moves: ``now`` is what the poller reads."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class FakeAttachmentStore:
    """The attachment store: keeps the keys, answers a made-up URL."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def put(self, key: str, content: bytes, content_type: str, filename: str) -> str:
        self.keys.append(key)
        return f"https://files.example/{key}"


def alert_mail(subject: str, sender: str = "alerts@example.com") -> EmailMessage:
    """A plain text message with this subject."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "ci@example.com", subject
    msg.set_content("body")
    return msg
