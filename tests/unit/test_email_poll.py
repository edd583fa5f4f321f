"""The e-mail poll cycle on fakes: cursors, the filter in two steps, enqueue -> \\Seen -> cursor, deterministic
execution ids, UIDVALIDITY changes, bounded batches, locks, and failures that lose or double nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest

from tests.support.fake_mailbox import FakeAccount, FakeFolder, MemoryCursors
from tests.support.fakes import MemoryFiringStore, MemoryQueue
from workflow_scheduler.domain.errors import SpecInvalid
from workflow_scheduler.domain.firing import (
    DispatchUnavailable,
    FiringOutcome,
    FiringService,
    FiringStatus,
    FiringTarget,
    execution_id_for,
)
from workflow_scheduler.domain.locks import LockNotAcquired
from workflow_scheduler.domain.models import DeploymentStatus, TriggerRecord, TriggerStatus, TriggerType
from workflow_scheduler.domain.triggers.email.filter import parse_filter
from workflow_scheduler.domain.triggers.email.mailbox import (
    FolderState,
    MailboxFailed,
    MailboxLoginRefused,
)
from workflow_scheduler.domain.triggers.email.message import INLINE_ATTACHMENT_MAX_BYTES, AttachmentProcessing
from workflow_scheduler.domain.triggers.email.poll import (
    Cursor,
    EmailPoller,
    EmailWatch,
    MailboxAddress,
    initial_cursor,
    unique_key,
)

NOW = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
INBOX = MailboxAddress("imap.example.com", "ci@example.com")


class Locks:
    def __init__(self) -> None:
        self.held: set[str] = set()

    @contextmanager
    def hold(self, name: str, lease_seconds: float, wait_seconds: float = 0) -> Iterator[str]:
        if name in self.held:
            raise LockNotAcquired(name)
        self.held.add(name)
        try:
            yield name
        finally:
            self.held.discard(name)


class Store:
    def __init__(self) -> None:
        self.keys: list[str] = []

    def put(self, key: str, content: bytes, content_type: str, filename: str) -> str:
        self.keys.append(key)
        return f"https://files.example/{key}"


class World:
    def __init__(self, batch_size: int = 25) -> None:
        self.account = FakeAccount()
        self.cursors = MemoryCursors()
        self.queue = MemoryQueue()
        self.firings = MemoryFiringStore()
        self.locks = Locks()
        self.store = Store()
        self.firing = FiringService(self.firings, self.queue, clock=lambda: NOW)
        self.poller = self.make_poller(batch_size)

    def make_poller(self, batch_size: int = 25) -> EmailPoller:
        return EmailPoller(
            self.cursors, self.firing, self.locks, self.account.open, self.store, batch_size, clock=lambda: NOW
        )

    def deploy(
        self, trigger_id: str = "mail", text: str = "", process_existing: bool = False, **options: Any
    ) -> EmailWatch:
        record = TriggerRecord("wf", trigger_id, TriggerType.EMAIL, {}, "hash", 1, TriggerStatus.ACTIVE)
        target = FiringTarget(DeploymentStatus.DEPLOYED, "owner", record)
        folder = self.account.folders[options.get("mailbox", INBOX).folder]
        state = FolderState(folder.uidvalidity, folder.uidnext)
        self.cursors.values[("wf", trigger_id)] = initial_cursor(state, process_existing)
        return EmailWatch(target, options.pop("mailbox", INBOX), parse_filter(text), **options)

    def subjects(self) -> list[str]:
        return [event.data["subject"] for event, _ in self.queue.sent]


def mail(subject: str, sender: str = "alerts@example.com", body: str = "text", attachment: bytes = b"") -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "ci@example.com", subject
    msg.set_content(body)
    if attachment:
        msg.add_attachment(attachment, maintype="application", subtype="octet-stream", filename="dump.bin")
    return msg


@pytest.fixture
def world() -> World:
    return World()


def test_new_matching_mail_fires_once_and_unmatched_mail_is_left_alone(world: World) -> None:
    world.account.inbox.append(mail("before the deploy"))
    watch = world.deploy(text="from:alerts")
    wanted = world.account.inbox.append(mail("disk full"))
    world.account.inbox.append(mail("lunch?", sender="bob@example.org"))

    [result] = world.poller.poll([watch])

    assert result.ok and not result.more
    assert world.subjects() == ["disk full"]
    event = world.queue.sent[0][0]
    assert event.execution_id == execution_id_for("wf", "mail", unique_key(INBOX, 1000, wanted))
    assert event.data["uid"] == wanted and event.data["folder"] == "INBOX" and event.data["uidvalidity"] == 1000
    assert result.cursor == Cursor(1000, 3)
    assert world.account.inbox.seen() == set()  # mark_as_read is off
    assert "select INBOX ro" in world.account.calls

    [again] = world.poller.poll([watch])
    assert again.fired == [] and len(world.queue.sent) == 1


def test_only_matching_mail_is_fetched_whole(world: World) -> None:
    watch = world.deploy(text="subject:deploy")
    world.account.inbox.append(mail("other"))
    wanted = world.account.inbox.append(mail("deploy done"))
    world.poller.poll([watch])
    assert [c for c in world.account.calls if c.startswith("fetch")] == [f"fetch [{wanted}]"]


def test_a_bare_word_is_checked_in_the_body(world: World) -> None:
    watch = world.deploy(text="oom -ignore")
    world.account.inbox.append(mail("crash report", body="process killed: OOM"))
    world.account.inbox.append(mail("crash report", body="nothing to see"))
    world.account.inbox.append(mail("crash report", body="OOM but please ignore"))
    [result] = world.poller.poll([watch])
    assert [o.status for o in result.fired] == [FiringStatus.QUEUED]
    assert world.queue.sent[0][0].data["body_text"] == "process killed: OOM\n"
    assert result.cursor == Cursor(1000, 3)


def test_process_existing_fires_the_mail_already_there(world: World) -> None:
    world.account.inbox.append(mail("old one"))
    watch = world.deploy(process_existing=True)
    world.poller.poll([watch])
    assert world.subjects() == ["old one"]


def test_mark_as_read_marks_only_what_fired_after_it_was_queued(world: World) -> None:
    watch = world.deploy(text="from:alerts", mark_as_read=True)
    fired = world.account.inbox.append(mail("disk full"))
    other = world.account.inbox.append(mail("lunch", sender="bob@example.org"))
    [result] = world.poller.poll([watch])
    assert world.account.inbox.seen() == {fired} and result.seen == [fired]
    assert other not in world.account.inbox.seen()
    assert "select INBOX rw" in world.account.calls


def test_a_crash_between_queue_and_cursor_fires_nothing_twice(world: World) -> None:
    watch = world.deploy(mark_as_read=True)
    uid = world.account.inbox.append(mail("disk full"))
    world.cursors.fail_save = True
    [crashed] = world.poller.poll([watch])
    assert isinstance(crashed.error, MailboxFailed)
    assert len(world.queue.sent) == 1 and world.account.inbox.seen() == {uid}

    [retried] = world.poller.poll([watch])
    assert retried.ok
    assert [o.status for o in retried.fired] == [FiringStatus.DUPLICATE]
    assert len(world.queue.sent) == 1
    assert retried.cursor == Cursor(1000, uid)


def test_a_connection_lost_mid_fetch_loses_and_doubles_nothing(world: World) -> None:
    first = world.deploy("first")
    second = world.deploy("second")
    for subject in ("a", "b"):
        world.account.inbox.append(mail(subject))
    world.account.fail["fetch"] = MailboxFailed("connection reset by peer")
    results = world.poller.poll([first, second])
    assert [type(r.error) for r in results] == [MailboxFailed, MailboxFailed]  # one session: both wait
    assert world.queue.sent == [] and world.account.open_sessions == 0
    assert world.cursors.values[("wf", "first")] == Cursor(1000, 0)

    results = world.poller.poll([first, second])
    assert all(r.ok for r in results)
    assert sorted(world.subjects()) == ["a", "a", "b", "b"]
    assert len({event.execution_id for event, _ in world.queue.sent}) == 4


def test_a_queue_outage_stops_the_trigger_at_that_message(world: World) -> None:
    watch = world.deploy(mark_as_read=True)
    uids = [world.account.inbox.append(mail(s)) for s in ("a", "b", "c")]

    class FlakyFiring:
        calls = 0

        def fire(self, target: FiringTarget, unique_key: str, data: dict[str, Any]) -> FiringOutcome:
            self.calls += 1
            if self.calls == 2:
                raise DispatchUnavailable("queue down")
            return world.firing.fire(target, unique_key, data)

    poller = EmailPoller(world.cursors, FlakyFiring(), world.locks, world.account.open, world.store)
    [result] = poller.poll([watch])
    assert isinstance(result.error, DispatchUnavailable)
    assert world.subjects() == ["a"] and world.account.inbox.seen() == {uids[0]}
    assert result.cursor == Cursor(1000, uids[0])

    world.poller.poll([watch])
    assert world.subjects() == ["a", "b", "c"]
    assert world.account.inbox.seen() == set(uids)


def test_a_message_that_cannot_fire_is_skipped_and_reported(world: World) -> None:
    watch = world.deploy()
    bad = world.account.inbox.append(mail("poison"))
    world.account.inbox.append(mail("fine"))

    class Refusing:
        def fire(self, target: FiringTarget, unique_key: str, data: dict[str, Any]) -> FiringOutcome:
            if data["subject"] == "poison":
                raise SpecInvalid([], what="the trigger data")
            return world.firing.fire(target, unique_key, data)

    [result] = EmailPoller(world.cursors, Refusing(), world.locks, world.account.open, world.store).poll([watch])
    assert result.ok and [uid for uid, _ in result.skipped] == [bad]
    assert world.subjects() == ["fine"] and result.cursor == Cursor(1000, bad + 1)


def test_a_uidvalidity_change_resets_the_cursor_and_is_reported_not_replayed(world: World) -> None:
    watch = world.deploy()
    world.account.inbox.append(mail("before"))
    world.poller.poll([watch])
    world.account.inbox.append(mail("unseen when the folder was rebuilt"))
    world.account.inbox.rebuild()

    [reset] = world.poller.poll([watch])
    assert reset.uidvalidity_reset == (1000, 1001) and reset.fired == []
    assert reset.cursor == Cursor(1001, 2)

    world.account.inbox.append(mail("after"))
    world.poller.poll([watch])
    assert world.subjects() == ["before", "after"]


def test_a_trigger_without_a_cursor_starts_at_the_end_of_the_folder(world: World) -> None:
    watch = world.deploy()
    world.cursors.values.clear()
    world.account.inbox.append(mail("there before the first poll"))
    [result] = world.poller.poll([watch])
    assert result.fired == [] and result.uidvalidity_reset is None and result.cursor == Cursor(1000, 1)


def test_each_poll_fires_a_bounded_batch_and_the_rest_next_time() -> None:
    world = World(batch_size=3)
    watch = world.deploy(text="from:alerts")
    for i in range(7):
        world.account.inbox.append(mail(f"m{i}"))
        world.account.inbox.append(mail("noise", sender="bob@example.org"))
    first = world.poller.poll([watch])[0]
    assert (len(first.fired), first.more, first.cursor) == (3, True, Cursor(1000, 5))
    second = world.poller.poll([watch])[0]
    assert (len(second.fired), second.more, second.cursor) == (3, True, Cursor(1000, 11))
    third = world.poller.poll([watch])[0]
    assert (len(third.fired), third.more, third.cursor) == (1, False, Cursor(1000, 14))
    assert world.subjects() == [f"m{i}" for i in range(7)]


def test_triggers_on_one_folder_share_a_session_with_their_own_filters_and_cursors(world: World) -> None:
    alerts = world.deploy("alerts", text="from:alerts")
    everything = world.deploy("everything")
    world.account.inbox.append(mail("from alerts"))
    world.account.inbox.append(mail("from bob", sender="bob@example.org"))
    results = world.poller.poll([alerts, everything])
    assert world.account.sessions == 1
    assert [len(r.fired) for r in results] == [1, 2]
    assert {r.trigger_id: r.cursor for r in results} == {"alerts": Cursor(1000, 2), "everything": Cursor(1000, 2)}


def test_two_polls_at_once_never_read_one_mailbox_together(world: World) -> None:
    watch = world.deploy()
    world.account.inbox.append(mail("once"))
    nested: list[Any] = []
    opener = world.account.open

    def open_and_race(*args: object) -> Any:
        nested.extend(world.poller.poll([watch]))  # a second poll while the first holds the mailbox
        return opener(*args)

    racing = EmailPoller(world.cursors, world.firing, world.locks, open_and_race, world.store)
    [first] = racing.poll([watch])
    [second] = nested
    assert second.locked_out and second.ok and second.fired == []
    assert len(first.fired) == 1 and world.subjects() == ["once"]


def test_a_refused_login_fails_its_mailbox_and_not_the_others(world: World) -> None:
    other_address = MailboxAddress("imap.example.com", "ci@example.com", folder="Alerts")
    world.account.folders["Alerts"] = FakeFolder()
    broken = world.deploy("broken", mailbox=other_address)
    fine = world.deploy("fine")
    world.account.inbox.append(mail("hello"))
    world.account.fail["open"] = MailboxLoginRefused("refused the login of 'ci@example.com'")
    results = {r.trigger_id: r for r in world.poller.poll([broken, fine])}
    assert isinstance(results["broken"].error, MailboxLoginRefused)
    assert results["fine"].ok and len(results["fine"].fired) == 1
    assert all(r.finished_at == NOW for r in results.values())


def test_large_attachments_go_to_the_store_under_the_execution_id(world: World) -> None:
    watch = world.deploy(attachment_processing=AttachmentProcessing.INCLUDE)
    uid = world.account.inbox.append(mail("dump", attachment=b"\0" * (INLINE_ATTACHMENT_MAX_BYTES + 1)))
    world.poller.poll([watch])
    execution_id = execution_id_for("wf", "mail", unique_key(INBOX, 1000, uid))
    assert world.store.keys == [f"{execution_id}/1-dump.bin"]
    [attachment] = world.queue.sent[0][0].data["attachments"]
    assert attachment["url"] == f"https://files.example/{execution_id}/1-dump.bin"


def test_the_mailbox_identity_ignores_port_and_credential_but_the_session_does_not() -> None:
    a = MailboxAddress("IMAP.example.com", "u", "INBOX", 993, "secret-a")
    b = MailboxAddress("imap.example.com", "u", "INBOX", 143, "secret-b")
    assert a.identity == b.identity and a.lock_name == b.lock_name
    assert a != b
    assert unique_key(a, 7, 9) == unique_key(b, 7, 9)


def test_initial_cursor_starts_after_the_last_message_or_before_the_first() -> None:
    assert initial_cursor(FolderState(5, 10)) == Cursor(5, 9)
    assert initial_cursor(FolderState(5, 10), process_existing=True) == Cursor(5, 0)


def test_a_batch_size_below_one_is_refused(world: World) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        world.make_poller(0)
