"""The poll cycle with the real adapters: Dovecot over IMAP, the Redis lock, attachments in moto's S3; the firing
path in memory. Mail fires once, unmatched mail keeps its flags, and a dropped connection loses nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.support.dovecot import HOST, LOCAL_DESTINATIONS, Dovecot, MailUser
from tests.support.fake_mailbox import MemoryCursors
from tests.support.fakes import MemoryFiringStore, MemoryQueue
from tests.support.tcp_proxy import TcpProxy
from workflow_scheduler.adapters.attachments_s3 import S3AttachmentStore
from workflow_scheduler.adapters.imap_mailbox import ImapMailbox, ImapServer, PasswordLogin, check_mailbox, open_mailbox
from workflow_scheduler.adapters.locks_redis import RedisLockManager
from workflow_scheduler.domain.firing import FiringService, FiringStatus, FiringTarget
from workflow_scheduler.domain.models import DeploymentStatus, TriggerRecord, TriggerStatus, TriggerType
from workflow_scheduler.domain.triggers.email.filter import parse_filter
from workflow_scheduler.domain.triggers.email.mailbox import MailboxFailed
from workflow_scheduler.domain.triggers.email.message import AttachmentProcessing
from workflow_scheduler.domain.triggers.email.poll import (
    Cursor,
    EmailPoller,
    EmailWatch,
    MailboxAddress,
    initial_cursor,
)

pytestmark = pytest.mark.integration


class Setup:
    def __init__(self, dovecot: Dovecot, user: MailUser, s3: Any, proxy: TcpProxy | None = None) -> None:
        self.dovecot, self.user, self.proxy = dovecot, user, proxy
        port = proxy.port if proxy else dovecot.imap_port
        self.server = ImapServer(
            HOST, port=port, use_ssl=False, ssl_context=dovecot.ssl_context(), destinations=LOCAL_DESTINATIONS
        )
        self.cut_after: int | None = None  # the proxy drops the next session after this many bytes from Dovecot
        self.cursors = MemoryCursors()
        self.queue = MemoryQueue()
        self.firing = FiringService(MemoryFiringStore(), self.queue)
        locks = RedisLockManager.from_url("redis://127.0.0.1:6379/0", key_prefix=f"test-email-{uuid.uuid4().hex}:")
        store = S3AttachmentStore("attachments", client=s3)
        self.poller = EmailPoller(self.cursors, self.firing, locks, self.open, store)

    def open(self, watch: EmailWatch) -> ImapMailbox:
        mailbox = open_mailbox(self.server, PasswordLogin(self.user.name, self.user.password))
        if self.proxy is not None and self.cut_after is not None:
            self.proxy.drop_after(self.cut_after)
            self.cut_after = None
        return mailbox

    def deploy(self, trigger_id: str, text: str = "", **options: Any) -> EmailWatch:
        """What the registrar will do: check the mailbox and start the cursor at its UIDNEXT."""
        state = check_mailbox(self.server, PasswordLogin(self.user.name, self.user.password), "INBOX")
        self.cursors.values[("wf", trigger_id)] = initial_cursor(state)
        record = TriggerRecord("wf", trigger_id, TriggerType.EMAIL, {}, "h", 1, TriggerStatus.ACTIVE)
        target = FiringTarget(DeploymentStatus.DEPLOYED, "owner", record)
        address = MailboxAddress(HOST, self.user.name, "INBOX", self.server.port)
        return EmailWatch(target, address, parse_filter(text), **options)

    def subjects(self) -> list[str]:
        return [event.data["subject"] for event, _ in self.queue.sent]


def mail(subject: str, sender: str = "alerts@example.com", attachment: bytes = b"") -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "me@example.com", subject
    msg.set_content("body")
    if attachment:
        msg.add_attachment(attachment, maintype="application", subtype="pdf", filename="report.pdf")
    return msg


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="attachments")
        yield client


def test_matching_mail_fires_once_and_only_it_is_marked_read(dovecot: Dovecot, mail_user: MailUser, s3: Any) -> None:
    setup = Setup(dovecot, mail_user, s3)
    dovecot.append(mail_user, mail("before the deploy"))
    watch = setup.deploy("alerts", "from:alerts has:attachment", mark_as_read=True,
                         attachment_processing=AttachmentProcessing.METADATA)  # fmt: skip
    wanted = dovecot.append(mail_user, mail("nightly report", attachment=b"%PDF-1.7"))
    no_attachment = dovecot.append(mail_user, mail("no attachment"))
    other_sender = dovecot.append(mail_user, mail("from bob", sender="bob@example.org", attachment=b"%PDF"))

    [result] = setup.poller.poll([watch])
    assert result.ok and setup.subjects() == ["nightly report"]
    assert setup.queue.sent[0][0].data["attachments"] == [
        {"filename": "report.pdf", "content_type": "application/pdf", "size": 8}
    ]
    flags = dovecot.flags(mail_user)
    assert r"\Seen" in flags[wanted]
    assert {r"\Seen" in flags[uid] for uid in (no_attachment, other_sender)} == {False}
    assert result.cursor == Cursor(dovecot.status(mail_user)[0], other_sender)

    [again] = setup.poller.poll([watch])
    assert again.fired == [] and len(setup.queue.sent) == 1


def test_a_uidvalidity_change_on_the_server_resets_the_cursor(dovecot: Dovecot, mail_user: MailUser, s3: Any) -> None:
    setup = Setup(dovecot, mail_user, s3)
    watch = setup.deploy("all")
    dovecot.append(mail_user, mail("one"))
    changed = dovecot.change_uidvalidity(mail_user)
    [result] = setup.poller.poll([watch])
    assert result.uidvalidity_reset is not None and result.uidvalidity_reset[1] == changed
    assert result.fired == []
    dovecot.append(mail_user, mail("two"))
    setup.poller.poll([watch])
    assert setup.subjects() == ["two"]


def test_a_connection_dropped_mid_fetch_fires_everything_once_next_time(
    dovecot: Dovecot, mail_user: MailUser, s3: Any
) -> None:
    proxy = TcpProxy(dovecot.imap_port)
    try:
        setup = Setup(dovecot, mail_user, s3, proxy)
        watch = setup.deploy("all")
        for subject in ("a", "b", "c"):
            dovecot.append(mail_user, mail(subject, attachment=b"x" * 50_000))
        setup.cut_after = 60_000  # the first whole message passes, the second is cut off
        [failed] = setup.poller.poll([watch])
        assert isinstance(failed.error, MailboxFailed)
        assert setup.queue.sent == []

        [result] = setup.poller.poll([watch])
        assert result.ok and [o.status for o in result.fired] == [FiringStatus.QUEUED] * 3
        assert setup.subjects() == ["a", "b", "c"]
    finally:
        proxy.close()
