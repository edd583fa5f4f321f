"""How a webhook caller authenticates: none, an API key header, an HMAC-SHA256 signature (optionally over a signed
timestamp) or HTTP Basic, each checked against the trigger's secret in constant time."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from workflow_scheduler.domain.errors import Unauthorized
from workflow_scheduler.domain.firing import SecretReader

if TYPE_CHECKING:
    from workflow_scheduler.domain.triggers.webhook.firing import WebhookRequest

DEFAULT_TIMESTAMP_TOLERANCE_SECONDS = 300
_REALM_UNSAFE = re.compile(r"[^A-Za-z0-9/._~-]")


class BasicAuthRequired(Unauthorized):
    """A refused call to a basic-auth webhook: the answer carries the challenge (RFC 7617)."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        # The realm is the webhook path, so a browser keeps one hook's credentials apart from another's; only
        # the characters a webhook path may hold are kept, so the quoted string needs no escaping.
        self.realm = _REALM_UNSAFE.sub("", path.rstrip("/")) or "webhook"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": f'Basic realm="{self.realm}", charset="UTF-8"'}


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def authenticate(auth: Mapping[str, Any], request: WebhookRequest, read_secret: SecretReader, now: float) -> None:
    """Check the request against the trigger's auth settings; every comparison is constant-time.

    ``now`` (Unix seconds) is what a signed timestamp is compared with.
    """
    kind = auth.get("type", "none")
    if kind == "none":
        return
    if kind == "basic":
        try:
            _check_basic(auth, request, read_secret)
        except Unauthorized as exc:
            raise BasicAuthRequired(exc.message, request.path) from exc
        return
    secret = read_secret(auth["secret_ref"])
    if kind == "api_key":
        given = request.header(auth["header"])
        if given is None:
            raise Unauthorized(f"missing {auth['header']} header")
        if not _equal(given, secret):
            raise Unauthorized(f"wrong key in the {auth['header']} header")
    elif kind == "hmac_sha256":
        given = request.header(auth["header"])
        if given is None:
            raise Unauthorized(f"missing {auth['header']} signature header")
        signed = request.body
        if auth.get("timestamp_header"):
            timestamp = _fresh_timestamp(auth, request, now)
            signed = timestamp.encode() + b"." + request.body
        expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        if not _equal(given.strip(), expected):
            covered = "the timestamp and the body" if auth.get("timestamp_header") else "the body"
            raise Unauthorized(f"the {auth['header']} signature does not match {covered}")
    else:  # pragma: no cover - the spec model admits no other type
        raise Unauthorized(f"unsupported auth type {kind!r}")


def _fresh_timestamp(auth: Mapping[str, Any], request: WebhookRequest, now: float) -> str:
    """The signed timestamp header, when present, whole Unix seconds and within the tolerance of ``now``."""
    name = auth["timestamp_header"]
    tolerance = auth.get("timestamp_tolerance_seconds") or DEFAULT_TIMESTAMP_TOLERANCE_SECONDS
    value = (request.header(name) or "").strip()
    if not value:
        raise Unauthorized(f"missing {name} timestamp header")
    if not (value.isascii() and value.isdigit() and len(value) <= 12):
        raise Unauthorized(f"the {name} header must be the Unix time in whole seconds")
    if abs(now - int(value)) > tolerance:
        raise Unauthorized(f"the {name} timestamp is more than {tolerance} seconds away from the server's clock")
    return value


def _check_basic(auth: Mapping[str, Any], request: WebhookRequest, read_secret: SecretReader) -> None:
    scheme, _, encoded = (request.header("authorization") or "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise Unauthorized("missing HTTP Basic credentials")
    try:
        username, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise Unauthorized("malformed HTTP Basic credentials") from exc
    secret = read_secret(auth["secret_ref"])
    # Both compared, always: the time taken says nothing about which one was wrong.
    if not (_equal(username, auth["username"]) & _equal(password, secret)):
        raise Unauthorized("wrong username or password")
