"""A fetched message as trigger data: headers, bodies, and attachments in each processing mode."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from email.message import EmailMessage

import pytest

from workflow_scheduler.domain.triggers.email.filter import parse_filter
from workflow_scheduler.domain.triggers.email.message import (
    INLINE_ATTACHMENT_MAX_BYTES,
    INLINE_ATTACHMENTS_TOTAL_BYTES,
    AttachmentProcessing,
    header_facts,
    parse_message,
    trigger_data,
)


class RecordingStore:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str, str]] = {}

    def put(self, key: str, content: bytes, content_type: str, filename: str) -> str:
        self.objects[key] = (content, content_type, filename)
        return f"https://files.example/{key}?signature=x"


def build(attachments: Sequence[tuple[str, bytes, str]] = (), html: bool = True) -> bytes:
    msg = EmailMessage()
    msg["From"] = "=?utf-8?q?J=C3=BCrgen?= <juergen@example.de>"
    msg["To"] = "Team <team@example.com>, ops@example.org"
    msg["Cc"] = "boss@example.net"
    msg["Subject"] = "=?utf-8?b?w5xiZXJ3ZWlzdW5n?= build failed"
    msg["Date"] = "Tue, 03 Nov 2026 09:15:00 +0100"
    msg["Message-ID"] = "<abc.123@example.de>"
    msg.set_content("Plain body: step 3 broke.\n")
    if html:
        msg.add_alternative("<p>HTML body: <b>step 3</b> broke.</p>", subtype="html")
    for filename, content, content_type in attachments:
        maintype, subtype = content_type.split("/")
        msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def data_of(raw: bytes, processing: AttachmentProcessing, store: RecordingStore | None = None) -> dict[str, object]:
    return trigger_data(parse_message(raw), processing, store or RecordingStore(), "mbox/1/7/trigger")


def test_headers_and_bodies_become_the_trigger_data() -> None:
    data = data_of(build(), AttachmentProcessing.EXCLUDE)
    assert data == {
        "message_id": "<abc.123@example.de>",
        "from": "Jürgen <juergen@example.de>",
        "to": ["Team <team@example.com>", "ops@example.org"],
        "cc": ["boss@example.net"],
        "subject": "Überweisung build failed",
        "date": "2026-11-03T09:15:00+01:00",
        "body_text": "Plain body: step 3 broke.\n",
        "body_html": "<p>HTML body: <b>step 3</b> broke.</p>\n",
    }


def test_exclude_leaves_attachments_out() -> None:
    data = data_of(build([("a.pdf", b"%PDF-1", "application/pdf")]), AttachmentProcessing.EXCLUDE)
    assert "attachments" not in data


def test_metadata_gives_name_type_and_size_only() -> None:
    raw = build([("report.pdf", b"%PDF-1.7 data", "application/pdf"), ("big.bin", b"\0" * 500_000, "x/y")])
    store = RecordingStore()
    assert data_of(raw, AttachmentProcessing.METADATA, store)["attachments"] == [
        {"filename": "report.pdf", "content_type": "application/pdf", "size": 13},
        {"filename": "big.bin", "content_type": "x/y", "size": 500_000},
    ]
    assert store.objects == {}


def test_include_puts_small_attachments_inline_and_large_ones_in_the_store() -> None:
    small = b"a,b\n1,2\n"
    large = bytes(range(256)) * (INLINE_ATTACHMENT_MAX_BYTES // 256 + 1)
    store = RecordingStore()
    raw = build([("data.csv", small, "text/csv"), ("dump ü.bin", large, "application/octet-stream")])
    attachments = data_of(raw, AttachmentProcessing.INCLUDE, store)["attachments"]
    assert attachments == [
        {
            "filename": "data.csv",
            "content_type": "text/csv",
            "size": len(small),
            "content_base64": base64.b64encode(small).decode(),
        },
        {
            "filename": "dump ü.bin",
            "content_type": "application/octet-stream",
            "size": len(large),
            "url": "https://files.example/mbox/1/7/trigger/2-dump_.bin?signature=x",
        },
    ]
    assert store.objects == {"mbox/1/7/trigger/2-dump_.bin": (large, "application/octet-stream", "dump ü.bin")}


def test_an_attachment_at_the_threshold_is_still_inline() -> None:
    exact = b"x" * INLINE_ATTACHMENT_MAX_BYTES
    attachments = data_of(build([("x.txt", exact, "text/plain")]), AttachmentProcessing.INCLUDE)["attachments"]
    assert isinstance(attachments, list)
    assert base64.b64decode(attachments[0]["content_base64"]) == exact


def test_inline_attachments_stop_at_a_total_and_the_rest_go_to_the_store() -> None:
    each = INLINE_ATTACHMENT_MAX_BYTES
    count = INLINE_ATTACHMENTS_TOTAL_BYTES // each + 2
    store = RecordingStore()
    raw = build([(f"part{i}.bin", bytes([i]) * each, "application/octet-stream") for i in range(count)])
    attachments = data_of(raw, AttachmentProcessing.INCLUDE, store)["attachments"]
    assert isinstance(attachments, list)
    inline = [a for a in attachments if "content_base64" in a]
    stored = [a for a in attachments if "url" in a]
    assert sum(a["size"] for a in inline) <= INLINE_ATTACHMENTS_TOTAL_BYTES
    assert len(inline) + len(stored) == count
    assert len(store.objects) == len(stored) >= 2


def test_an_unnamed_attachment_and_a_forwarded_message_count_as_attachments() -> None:
    inner = EmailMessage()
    inner["Subject"] = "original"
    inner.set_content("forwarded text")
    outer = EmailMessage()
    outer["Subject"] = "fwd"
    outer.set_content("see below")
    outer.add_attachment(b"\x89PNG", maintype="image", subtype="png", disposition="attachment")
    outer.add_attachment(inner)
    parsed = parse_message(outer.as_bytes())
    assert parsed.text == "see below\n"
    assert [(a.filename, a.content_type) for a in parsed.attachments] == [("", "image/png"), ("", "message/rfc822")]
    assert b"forwarded text" in parsed.attachments[1].content
    store = RecordingStore()
    attachments = trigger_data(parsed, AttachmentProcessing.INCLUDE, store, "p")["attachments"]
    assert [a["filename"] for a in attachments] == ["", ""]
    assert parse_filter("has:attachment").matches(parsed.facts())
    assert parse_filter("forwarded").matches(parsed.facts()) is False  # inside the attachment, not the body


def test_a_malformed_message_still_parses() -> None:
    raw = (
        b"From: not an address\r\nTo: \r\nDate: yesterday-ish\r\nSubject: odd\r\n"
        b"Content-Type: text/plain; charset=x-unknown-charset\r\n\r\nbody \xff bytes\r\n"
    )
    parsed = parse_message(raw)
    assert "not an address" in parsed.sender
    assert parsed.to == ()
    assert parsed.date is None
    assert parsed.message_id is None
    assert parsed.text is not None and "body" in parsed.text
    assert parse_message(b"").subject == ""


def test_a_html_only_message_has_no_text_body() -> None:
    msg = EmailMessage()
    msg.set_content("<p>only html</p>", subtype="html")
    parsed = parse_message(msg.as_bytes())
    assert (parsed.text, parsed.html) == (None, "<p>only html</p>\n")


def test_the_filter_reads_the_full_message_and_the_header_facts_alike() -> None:
    raw = build([("Q3 report.PDF", b"%PDF", "application/pdf")])
    full = parse_message(raw).facts()
    headers = header_facts(raw.split(b"\n\n", 1)[0], ["Q3 report.PDF"])
    text = 'from:jürgen to:ops@example.org cc:boss subject:überweisung filename:"q3 report" has:attachment'
    for facts in (full, headers):
        assert parse_filter(text).matches(facts)
    assert parse_filter("broke").matches(full)
    assert parse_filter("-broke").matches(full) is False
    assert headers.body is None


@pytest.mark.parametrize("processing", list(AttachmentProcessing))
def test_every_mode_keeps_the_headers(processing: AttachmentProcessing) -> None:
    assert data_of(build(), processing)["subject"] == "Überweisung build failed"


def test_raw_8bit_headers_become_text_json_can_carry() -> None:
    raw = b"From: Ren\xc3\xa9 <r@example.fr>\r\nSubject: Caf\xc3\xa9 \xff\r\n\r\nbody\r\n"
    parsed = parse_message(raw)
    assert parsed.sender == "René <r@example.fr>"
    assert parsed.subject == "Café \ufffd"
    json.dumps(trigger_data(parsed, AttachmentProcessing.EXCLUDE, RecordingStore(), "p")).encode()
