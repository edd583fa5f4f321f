"""Attachments from a real mailbox in each processing mode; large ones in S3 (moto) behind a presigned URL."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import boto3
import pytest
import requests
from moto import mock_aws

from tests.support.dovecot import HOST, LOCAL_DESTINATIONS, Dovecot, MailUser
from workflow_scheduler.adapters.attachments_s3 import S3AttachmentStore, content_disposition
from workflow_scheduler.adapters.imap_mailbox import ImapServer, PasswordLogin, open_mailbox
from workflow_scheduler.domain.triggers.email.mailbox import AttachmentStoreUnavailable
from workflow_scheduler.domain.triggers.email.message import (
    INLINE_ATTACHMENT_MAX_BYTES,
    AttachmentProcessing,
    parse_message,
    trigger_data,
)

pytestmark = pytest.mark.integration

BUCKET = "attachments"
SMALL = b"id,status\n1,failed\n"
LARGE = bytes(range(256)) * (INLINE_ATTACHMENT_MAX_BYTES // 256 + 10)


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def raw_message(dovecot: Dovecot, mail_user: MailUser) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "ci@example.com", "me@example.com", "Nightly results"
    msg.set_content("See attached.")
    msg.add_attachment(SMALL, maintype="text", subtype="csv", filename="results.csv")
    msg.add_attachment(LARGE, maintype="application", subtype="octet-stream", filename="core dump é.bin")
    uid = dovecot.append(mail_user, msg)
    server = ImapServer(
        HOST, port=dovecot.imaps_port, ssl_context=dovecot.ssl_context(), destinations=LOCAL_DESTINATIONS
    )
    with open_mailbox(server, PasswordLogin(mail_user.name, mail_user.password)) as mailbox:
        mailbox.select("INBOX")
        return mailbox.fetch([uid])[uid]


def data(raw: bytes, processing: AttachmentProcessing, store: S3AttachmentStore) -> dict[str, Any]:
    return trigger_data(parse_message(raw), processing, store, "mbox-1/1700000000/7/wf-1:mail")


def test_include_puts_the_small_one_inline_and_the_large_one_behind_a_presigned_url(
    raw_message: bytes, s3: Any
) -> None:
    attachments = data(raw_message, AttachmentProcessing.INCLUDE, S3AttachmentStore(BUCKET, client=s3))["attachments"]
    small, large = attachments
    assert small == {
        "filename": "results.csv",
        "content_type": "text/csv",
        "size": len(SMALL),
        "content_base64": base64.b64encode(SMALL).decode(),
    }
    assert (large["filename"], large["size"], "content_base64" in large) == ("core dump é.bin", len(LARGE), False)
    downloaded = requests.get(large["url"], timeout=10)
    assert downloaded.status_code == 200
    assert downloaded.content == LARGE
    key = "email-attachments/mbox-1/1700000000/7/wf-1:mail/2-core_dump_.bin"
    stored = s3.head_object(Bucket=BUCKET, Key=key)
    assert stored["ContentType"] == "application/octet-stream"
    assert stored["ContentDisposition"] == content_disposition("core dump é.bin")


def test_the_same_message_again_overwrites_its_objects(raw_message: bytes, s3: Any) -> None:
    store = S3AttachmentStore(BUCKET, client=s3)
    data(raw_message, AttachmentProcessing.INCLUDE, store)
    data(raw_message, AttachmentProcessing.INCLUDE, store)
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 1


def test_metadata_and_exclude_store_nothing(raw_message: bytes, s3: Any) -> None:
    store = S3AttachmentStore(BUCKET, client=s3)
    assert data(raw_message, AttachmentProcessing.METADATA, store)["attachments"] == [
        {"filename": "results.csv", "content_type": "text/csv", "size": len(SMALL)},
        {"filename": "core dump é.bin", "content_type": "application/octet-stream", "size": len(LARGE)},
    ]
    assert "attachments" not in data(raw_message, AttachmentProcessing.EXCLUDE, store)
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0


def test_a_missing_bucket_is_an_outage_not_a_lost_attachment(raw_message: bytes, s3: Any) -> None:
    with pytest.raises(AttachmentStoreUnavailable, match="bucket 'no-such-bucket'"):
        data(raw_message, AttachmentProcessing.INCLUDE, S3AttachmentStore("no-such-bucket", client=s3))


def test_the_download_keeps_the_file_name() -> None:
    assert content_disposition("report.pdf") == "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
    assert content_disposition('a "b" é.txt') == (
        "attachment; filename=\"a _b_ _.txt\"; filename*=UTF-8''a%20%22b%22%20%C3%A9.txt"
    )
    assert content_disposition("") == "attachment"


def test_url_lifetime_is_bounded() -> None:
    with pytest.raises(ValueError, match="expires_in"):
        S3AttachmentStore(BUCKET, expires_in=8 * 24 * 3600, client=object())
