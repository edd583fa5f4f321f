"""One poll of the e-mail triggers (issue 10, "Poller"): pure logic over small ports.

Triggers are grouped by mailbox and folder; one session, under the group's lock, serves every trigger of the
group, each with its own filter and cursor (UIDVALIDITY, last UID). For each trigger: SEARCH above the cursor
with what the server can check, headers and structure first (``BODY.PEEK``), the filter, then whole messages
for what matched, up to a bounded batch. Each match is put on the dispatch queue (``Firing``), then marked
``\\Seen`` when the trigger asks, then the cursor advances. The execution id comes from (mailbox, UIDVALIDITY,
UID) and the trigger, so a poll that dies between the queue and the cursor fires nothing twice. Unmatched mail
is left exactly as it was. A UIDVALIDITY change moves the cursor to the folder's current end and is reported,
not replayed.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from workflow_scheduler.domain.errors import DomainError, Invalid
from workflow_scheduler.domain.firing import FiringOutcome, FiringTarget, execution_id_for
from workflow_scheduler.domain.locks import LockNotAcquired
from workflow_scheduler.domain.triggers.email.filter import EmailFilter
from workflow_scheduler.domain.triggers.email.mailbox import (
    SERVICE_PASSWORD,
    Credential,
    FolderState,
    Mailbox,
    MailboxFailed,
)
from workflow_scheduler.domain.triggers.email.message import (
    AttachmentProcessing,
    AttachmentStore,
    parse_message,
    trigger_data,
)

BATCH_SIZE = 25  # matching messages fired per trigger and poll; the rest wait for the next poll
SUMMARY_CHUNK = 200  # UIDs whose headers are read at a time while looking for the batch's matches
# Longer than one poll of a mailbox can take (the poller's timeout), so the lock never lapses mid-poll.
LOCK_LEASE_SECONDS = 300.0
DEFAULT_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True)
class MailboxAddress:
    """A folder of an account. Triggers with equal addresses share one session; ``credential`` (e.g. the secret's
    name) keeps apart triggers that log in to the same account differently."""

    host: str
    username: str
    folder: str = "INBOX"
    port: int = 993
    credential: str = ""

    @property
    def identity(self) -> str:
        """Which messages the UIDs name: the account and folder (not the port or the credential)."""
        return f"{self.username}@{self.host.lower()}/{self.folder}"

    @property
    def lock_name(self) -> str:
        return "email-poll-" + hashlib.sha256(self.identity.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Cursor:
    uidvalidity: int
    last_uid: int  # every message up to this UID has been dealt with


def initial_cursor(state: FolderState, process_existing: bool = False) -> Cursor:
    """The cursor a trigger gets at deploy: mail that arrives afterwards fires (even before the first poll);
    mail already there only with ``process_existing``."""
    return Cursor(state.uidvalidity, 0 if process_existing else state.uidnext - 1)


@dataclass(frozen=True)
class EmailWatch:
    """A deployed e-mail trigger as the poller needs it."""

    target: FiringTarget
    mailbox: MailboxAddress
    email_filter: EmailFilter = field(default_factory=EmailFilter)
    mark_as_read: bool = False
    attachment_processing: AttachmentProcessing = AttachmentProcessing.EXCLUDE
    use_ssl: bool = True  # False: STARTTLS where the server offers it
    credential: Credential = SERVICE_PASSWORD
    interval: timedelta = DEFAULT_INTERVAL  # check_interval: how often the trigger is polled

    @property
    def key(self) -> tuple[str, str]:
        return self.target.trigger.workflow_id, self.target.trigger.trigger_id


class CursorStore(Protocol):
    def load(self, workflow_id: str, trigger_id: str, mailbox: MailboxAddress) -> Cursor | None:
        """The trigger's cursor in ``mailbox``; None when it has none there (a cursor of another mailbox is none)."""

    def save(self, workflow_id: str, trigger_id: str, mailbox: MailboxAddress, cursor: Cursor) -> None: ...


class Firing(Protocol):
    """``FiringService``: records the firing and puts it on the dispatch queue (or says it already was)."""

    def fire(self, target: FiringTarget, unique_key: str, data: dict[str, Any]) -> FiringOutcome: ...


class MailboxLocks(Protocol):
    """``DistributedLockManager``: ``hold`` raises ``LockNotAcquired`` when another poll has the mailbox."""

    def hold(self, name: str, lease_seconds: float, wait_seconds: float = 0) -> AbstractContextManager[object]: ...


# Opens a logged-in session with the watch's server settings and credential.
MailboxOpener = Callable[[EmailWatch], Mailbox]


@dataclass
class TriggerPoll:
    """What one poll did for one trigger (health, logs and metrics are made from it)."""

    workflow_id: str
    trigger_id: str
    fired: list[FiringOutcome] = field(default_factory=list)
    seen: list[int] = field(default_factory=list)  # UIDs marked \Seen
    cursor: Cursor | None = None  # after the poll
    uidvalidity_reset: tuple[int, int] | None = None  # (old, new): mail in between was not replayed
    more: bool = False  # the batch was full: more matching mail waits
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (UID, why) of matches that could not fire
    error: DomainError | None = None
    locked_out: bool = False  # another poll held the mailbox: nothing done, no error
    finished_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def unique_key(mailbox: MailboxAddress, uidvalidity: int, uid: int) -> str:
    """With the trigger's ids, the execution id of a message's firing: the same message fires one execution."""
    return f"email\x1f{mailbox.identity}\x1f{uidvalidity}\x1f{uid}"


class EmailPoller:
    def __init__(
        self,
        cursors: CursorStore,
        firing: Firing,
        locks: MailboxLocks,
        open_mailbox: MailboxOpener,
        attachments: AttachmentStore,
        batch_size: int = BATCH_SIZE,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._cursors = cursors
        self._firing = firing
        self._locks = locks
        self._open = open_mailbox
        self._attachments = attachments
        self._batch = batch_size
        self._clock = clock

    def poll(self, watches: Iterable[EmailWatch]) -> list[TriggerPoll]:
        """Poll every trigger once, a mailbox at a time; one mailbox's failure does not stop the others."""
        groups: dict[MailboxAddress, list[EmailWatch]] = defaultdict(list)
        for watch in watches:
            groups[watch.mailbox].append(watch)
        results: list[TriggerPoll] = []
        for address, group in groups.items():
            results += self.poll_mailbox(address, group)
        return results

    def poll_mailbox(self, address: MailboxAddress, watches: Sequence[EmailWatch]) -> list[TriggerPoll]:
        results = [TriggerPoll(*watch.key) for watch in watches]
        try:
            with self._locks.hold(address.lock_name, LOCK_LEASE_SECONDS):
                self._poll_locked(address, watches, results)
        except LockNotAcquired:
            for result in results:
                result.locked_out = True
        except DomainError as exc:  # the session could not start or broke: every trigger not yet done has it
            for result in results:
                if result.finished_at is None:
                    result.error = exc
        now = self._clock()
        for result in results:
            result.finished_at = result.finished_at or now
        return results

    def _poll_locked(self, address: MailboxAddress, watches: Sequence[EmailWatch], results: list[TriggerPoll]) -> None:
        mailbox = self._open(watches[0])
        try:
            state = mailbox.select(address.folder, readonly=not any(w.mark_as_read for w in watches))
            for watch, result in zip(watches, results, strict=True):
                try:
                    self._poll_trigger(mailbox, state, watch, result)
                except MailboxFailed:
                    raise  # the session is gone: the rest of the group cannot be read either
                except DomainError as exc:
                    result.error = exc
                result.finished_at = self._clock()
        finally:
            mailbox.close()

    def _poll_trigger(self, mailbox: Mailbox, state: FolderState, watch: EmailWatch, result: TriggerPoll) -> None:
        workflow_id, trigger_id = watch.key
        cursor = self._cursors.load(workflow_id, trigger_id, watch.mailbox)
        if cursor is None or cursor.uidvalidity != state.uidvalidity:
            # No cursor (the deploy's was lost) or a rebuilt folder whose UIDs mean other messages: start at
            # the folder's end; what is there now is not fired.
            fresh = initial_cursor(state)
            if cursor is not None:
                result.uidvalidity_reset = (cursor.uidvalidity, state.uidvalidity)
            self._cursors.save(workflow_id, trigger_id, watch.mailbox, fresh)
            result.cursor = fresh
            return
        found = mailbox.search(cursor.last_uid, watch.email_filter.search_criteria())
        matches, reached = self._candidates(mailbox, watch, found)
        last_found = max(found, default=0)
        # Every found UID up to ``reached`` was looked at. When that is all of them, so is every UID below the
        # UIDNEXT of the select: SEARCH ran after it, and what it did not find cannot match.
        done = max(reached, state.uidnext - 1) if reached == last_found else reached
        result.more = done < last_found
        fired_uids, stop = self._fire(mailbox, state, watch, matches, result)
        if stop is not None:
            done = stop - 1
        if watch.mark_as_read and fired_uids:
            mailbox.mark_seen(fired_uids)
            result.seen = fired_uids
        advanced = Cursor(state.uidvalidity, max(done, cursor.last_uid))
        if advanced != cursor:
            self._cursors.save(workflow_id, trigger_id, watch.mailbox, advanced)
        result.cursor = advanced

    def _candidates(self, mailbox: Mailbox, watch: EmailWatch, found: Sequence[int]) -> tuple[list[int], int]:
        """The first ``batch`` UIDs whose headers and structure match, and the highest UID looked at."""
        matches: list[int] = []
        reached = 0
        for start in range(0, len(found), SUMMARY_CHUNK):
            chunk = list(found[start : start + SUMMARY_CHUNK])
            summaries = {s.uid: s for s in mailbox.summaries(chunk)}
            for uid in chunk:
                summary = summaries.get(uid)
                if summary is not None and watch.email_filter.matches(summary.facts):
                    matches.append(uid)
                    if len(matches) == self._batch:
                        return matches, uid
                reached = uid
        return matches, reached

    def _fire(
        self, mailbox: Mailbox, state: FolderState, watch: EmailWatch, uids: list[int], result: TriggerPoll
    ) -> tuple[list[int], int | None]:
        """Fire the matching messages in UID order; the UIDs to mark seen, and the UID where a failure stopped
        the trigger (it and the later ones wait for the next poll)."""
        if not uids:
            return [], None
        messages = mailbox.fetch(uids)
        accepted: list[int] = []
        for uid in uids:
            raw = messages.get(uid)
            if raw is None:
                continue  # expunged since the search
            parsed = parse_message(raw)
            if not watch.email_filter.matches(parsed.facts()):
                continue  # a bare word that was in neither the subject nor the body after all
            key = unique_key(watch.mailbox, state.uidvalidity, uid)
            workflow_id, trigger_id = watch.key
            try:
                data = trigger_data(
                    parsed,
                    watch.attachment_processing,
                    self._attachments,
                    key_prefix=execution_id_for(workflow_id, trigger_id, key),
                )
                data.update(folder=watch.mailbox.folder, uid=uid, uidvalidity=state.uidvalidity)
                outcome = self._firing.fire(watch.target, key, data)
            except Invalid as exc:  # this message cannot become a firing (e.g. data JSON cannot carry)
                result.skipped.append((uid, exc.message))
                continue
            except DomainError as exc:  # the queue or the attachment store is down: retry from here
                result.error = exc
                return accepted, uid
            result.fired.append(outcome)
            if outcome.accepted:
                accepted.append(uid)
        return accepted, None
