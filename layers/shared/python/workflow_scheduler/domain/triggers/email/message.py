"""A fetched e-mail message as the trigger's data: headers, text and HTML bodies, and attachments as
``attachment_processing`` asks (``include``: small ones inline in base64, larger ones through an
``AttachmentStore`` that answers a download URL; ``metadata``: name, type and size; ``exclude``: none)."""

from __future__ import annotations

import base64
import mimetypes
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from enum import StrEnum
from typing import Any, Protocol

from workflow_scheduler.domain.triggers.email.filter import MessageFacts

# An attachment up to this size (decoded) travels inside the trigger data, base64 encoded (a third larger);
# a larger one, or one past the total below, goes to the attachment store. Together they keep a firing with
# its bodies well under the dispatch queue's message limit.
INLINE_ATTACHMENT_MAX_BYTES = 128 * 1024
INLINE_ATTACHMENTS_TOTAL_BYTES = 384 * 1024

_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


class AttachmentProcessing(StrEnum):
    INCLUDE = "include"
    EXCLUDE = "exclude"
    METADATA = "metadata"


class AttachmentStore(Protocol):
    def put(self, key: str, content: bytes, content_type: str, filename: str) -> str:
        """Keep the content under ``key`` (the same key again overwrites it); a URL that downloads it for a
        limited time."""


@dataclass(frozen=True)
class Attachment:
    filename: str  # "" when the part names none
    content_type: str
    content: bytes

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True)
class ParsedMessage:
    message_id: str | None
    sender: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    date: str | None  # ISO 8601, None when the header is missing or unreadable
    text: str | None
    html: str | None
    attachments: tuple[Attachment, ...]

    def facts(self) -> MessageFacts:
        """What the filter looks at, body included."""
        body = "\n".join(part for part in (self.text, self.html) if part)
        return MessageFacts(
            sender=self.sender,
            to=", ".join(self.to),
            cc=", ".join(self.cc),
            subject=self.subject,
            attachment_names=tuple(a.filename for a in self.attachments),
            body=body,
        )


def is_attachment(content_type: str, disposition: str | None, filename: str | None) -> bool:
    """Whether a leaf part is an attachment rather than a body: marked so, or named, or a forwarded message.
    The IMAP adapter applies the same rule to BODYSTRUCTURE, so has:attachment means the same on both."""
    return (disposition or "").lower() == "attachment" or bool(filename) or content_type.lower() == "message/rfc822"


def leaf_parts(part: EmailMessage) -> Iterator[EmailMessage]:
    """The non-multipart parts in order; a forwarded message (message/rfc822) is one part, not opened."""
    if part.get_content_maintype() == "multipart":
        for sub in part.iter_parts():
            if isinstance(sub, EmailMessage):
                yield from leaf_parts(sub)
    else:
        yield part


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, LookupError):  # a header the parser cannot read: its raw text instead
        return _raw_header(message, name)
    return "" if value is None else str(value)


def _raw_header(message: EmailMessage, name: str) -> str:
    for key, value in message.raw_items():
        if key.lower() == name.lower():
            return str(value)
    return ""


def _addresses(message: EmailMessage, name: str) -> tuple[str, ...]:
    try:
        header: Any = message.get(name)
        addresses = getattr(header, "addresses", None) if header is not None else ()
    except (ValueError, LookupError):
        addresses = None
    if addresses is None:  # not an address header the parser understood: the text as written
        text = _raw_header(message, name).strip()
        return (text,) if text else ()
    return tuple(str(address) for address in addresses)


def _date(message: EmailMessage) -> str | None:
    try:
        header: Any = message.get("date")
        when = getattr(header, "datetime", None) if header is not None else None
    except (ValueError, LookupError):
        return None
    return when.isoformat() if when is not None else None


def _text(part: EmailMessage) -> str:
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown or lying charset: the bytes, decoded as well as possible
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else ""


def _content(part: EmailMessage) -> bytes:
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload(0)
        return inner.as_bytes() if isinstance(inner, EmailMessage) else b""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def parse_message(raw: bytes) -> ParsedMessage:
    """The parts of an RFC 822 message the trigger needs; never fails on a malformed message."""
    message = message_from_bytes(raw, policy=policy.default)
    if not isinstance(message, EmailMessage):
        message = EmailMessage()
    text: str | None = None
    html: str | None = None
    attachments: list[Attachment] = []
    for part in leaf_parts(message):
        content_type = part.get_content_type()
        filename = part.get_filename()
        if is_attachment(content_type, part.get_content_disposition(), filename):
            attachments.append(Attachment(filename or "", content_type, _content(part)))
        elif content_type == "text/plain" and text is None:
            text = _text(part)
        elif content_type == "text/html" and html is None:
            html = _text(part)
    message_id = _header(message, "message-id").strip()
    return ParsedMessage(
        message_id=message_id or None,
        sender=_header(message, "from"),
        to=_addresses(message, "to"),
        cc=_addresses(message, "cc"),
        subject=_header(message, "subject"),
        date=_date(message),
        text=text,
        html=html,
        attachments=tuple(attachments),
    )


def header_facts(headers: bytes, attachment_names: Sequence[str]) -> MessageFacts:
    """What the filter can check before the body is fetched: the header block and the attachments' names
    (from the message's structure)."""
    message = message_from_bytes(headers, policy=policy.default)
    if not isinstance(message, EmailMessage):
        message = EmailMessage()
    return MessageFacts(
        sender=_header(message, "from"),
        to=", ".join(_addresses(message, "to")),
        cc=", ".join(_addresses(message, "cc")),
        subject=_header(message, "subject"),
        attachment_names=tuple(attachment_names),
    )


def _storage_name(index: int, attachment: Attachment) -> str:
    name = attachment.filename or f"attachment{mimetypes.guess_extension(attachment.content_type) or ''}"
    safe = _UNSAFE_KEY_CHARS.sub("_", name).strip("._") or "attachment"
    return f"{index}-{safe[-100:]}"


def _attachments_data(
    attachments: Sequence[Attachment], processing: AttachmentProcessing, store: AttachmentStore, key_prefix: str
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    inline_total = 0
    for index, attachment in enumerate(attachments, start=1):
        item: dict[str, Any] = {
            "filename": attachment.filename,
            "content_type": attachment.content_type,
            "size": attachment.size,
        }
        if processing is AttachmentProcessing.INCLUDE:
            fits = inline_total + attachment.size <= INLINE_ATTACHMENTS_TOTAL_BYTES
            if attachment.size <= INLINE_ATTACHMENT_MAX_BYTES and fits:
                inline_total += attachment.size
                item["content_base64"] = base64.b64encode(attachment.content).decode("ascii")
            else:
                key = f"{key_prefix.rstrip('/')}/{_storage_name(index, attachment)}"
                item["url"] = store.put(key, attachment.content, attachment.content_type, attachment.filename)
        out.append(item)
    return out


def trigger_data(
    message: ParsedMessage, processing: AttachmentProcessing, store: AttachmentStore, key_prefix: str
) -> dict[str, Any]:
    """The firing's data. ``key_prefix`` names this message's stored attachments (the same message gives the
    same keys, so a retried poll overwrites instead of adding). With ``exclude`` there is no ``attachments``."""
    data: dict[str, Any] = {
        "message_id": message.message_id,
        "from": message.sender,
        "to": list(message.to),
        "cc": list(message.cc),
        "subject": message.subject,
        "date": message.date,
        "body_text": message.text,
        "body_html": message.html,
    }
    if processing is not AttachmentProcessing.EXCLUDE:
        data["attachments"] = _attachments_data(message.attachments, processing, store, key_prefix)
    return data
