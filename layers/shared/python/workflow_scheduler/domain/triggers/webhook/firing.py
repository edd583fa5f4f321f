"""Webhook triggers: an HTTP call to a deployed path fires its workflow (docs/webhooks.md)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from workflow_scheduler.domain.errors import NotFound, PayloadTooLarge, Problem, Refused, SpecInvalid
from workflow_scheduler.domain.firing import (
    ByWebhookPath,
    FiringDeps,
    FiringOutcome,
    FiringService,
    FiringStatus,
    SecretOwnerCheck,
    SecretReader,
    TargetStore,
    WorkflowPaused,
)
from workflow_scheduler.domain.json_limits import JsonRefused, loads_strict
from workflow_scheduler.domain.triggers.webhook.auth import authenticate

# Never passed on to the workflow: credentials and signatures (the trigger's own auth header is added per call).
CREDENTIAL_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "x-hub-signature", "x-hub-signature-256"}
)
TEXT_TYPES = ("text/", "application/xml", "application/javascript")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # how a lone surrogate gets into parsed JSON


class WebhookNotFound(NotFound):
    code = "not_found"


class MethodNotAllowed(Refused):
    code = "method_not_allowed"

    def __init__(self, method: str, allowed: list[str]) -> None:
        self.allowed = allowed
        super().__init__(f"{method} is not accepted here; use {', '.join(allowed)}")

    def headers(self) -> dict[str, str]:
        return {"Allow": ", ".join(self.allowed)}


@dataclass(frozen=True)
class WebhookRequest:
    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names
    query: dict[str, list[str]] = field(default_factory=dict)
    body: bytes = b""
    source_ip: str | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def _has_lone_surrogate(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    return False


def parse_body(body: bytes, content_type: str | None) -> tuple[Any, str]:
    """The body as the workflow sees it, and its encoding: json, form, text or base64.

    A JSON-labelled body is passed on parsed only when it is standard JSON the engine gets unchanged; otherwise
    (malformed, NaN or Infinity, a lone surrogate) its text goes, byte for byte. Nesting deeper than
    ``MAX_JSON_DEPTH`` is refused (422): such a body could not be delivered as JSON.
    """
    if not body:
        return None, "empty"
    kind = (content_type or "").split(";")[0].strip().lower()
    labelled_json = kind == "application/json" or kind.endswith("+json")
    if labelled_json:
        try:
            parsed = loads_strict(body)
        except JsonRefused as exc:
            if exc.too_deep:
                raise SpecInvalid([Problem("body", exc.reason)], what="the webhook body") from exc
        except ValueError:
            pass  # passed on as text: a sender's mislabelled body is still its payload
        else:
            if not (_SURROGATE_ESCAPE.search(body) and _has_lone_surrogate(parsed)):
                return parsed, "json"
    if kind == "application/x-www-form-urlencoded":
        try:
            fields = parse_qs(body.decode(), keep_blank_values=True, strict_parsing=False)
            return {k: v[0] if len(v) == 1 else v for k, v in fields.items()}, "form"
        except UnicodeDecodeError:
            pass
    if not kind or kind.startswith(TEXT_TYPES) or labelled_json or kind == "application/x-www-form-urlencoded":
        try:
            return body.decode(), "text"
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode(), "base64"


def request_fingerprint(request: WebhookRequest) -> str:
    """What makes two calls the same request for an Idempotency-Key: method, query and body. Headers are left out:
    a sender's retry carries new trace ids, dates and signed timestamps."""
    identity = json.dumps([request.method, sorted(request.query.items())]).encode()
    return hashlib.sha256(identity + b"\n" + request.body).hexdigest()


def trigger_data(request: WebhookRequest, auth: Mapping[str, Any]) -> dict[str, Any]:
    hidden = CREDENTIAL_HEADERS | ({auth["header"].lower()} if auth.get("header") else set())
    body, encoding = parse_body(request.body, request.header("content-type"))
    return {
        "headers": {k: v for k, v in request.headers.items() if k not in hidden},
        "body": body,
        "body_encoding": encoding,
        "query_params": {k: v[0] if len(v) == 1 else v for k, v in request.query.items()},
        "method": request.method,
        "path": request.path,
        "source_ip": request.source_ip,
    }


class WebhookFiring:
    def __init__(
        self,
        targets: TargetStore,
        firing: FiringService,
        read_secret: SecretReader,
        max_body_bytes: int,
        new_key: Callable[[], str] = lambda: str(uuid.uuid4()),
        check_secret: SecretOwnerCheck | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._targets = targets
        self._firing = firing
        self._read_secret = read_secret
        self._max_body_bytes = max_body_bytes
        self._new_key = new_key
        # Raises unless the trigger may use the secret: its owner's (defence in depth behind the deploy check).
        self._check_secret = check_secret

    def fire(self, request: WebhookRequest) -> FiringOutcome:
        if len(request.body) > self._max_body_bytes:
            raise PayloadTooLarge(f"the body is {len(request.body)} bytes; at most {self._max_body_bytes} are accepted")
        found = self._targets.targets(ByWebhookPath(request.path.rstrip("/") or request.path))
        if not found:
            raise WebhookNotFound(f"no webhook is deployed at {request.path}")
        target = found[0]
        config = target.trigger.config
        auth = config.get("auth") or {"type": "none"}
        if self._check_secret is not None and auth.get("secret_ref"):
            self._check_secret(auth["secret_ref"], target)
        # Credentials first: only a caller who may use the hook learns which methods it takes.
        authenticate(auth, request, self._read_secret, self._clock())
        methods: list[str] = config.get("methods", ["POST"])
        if request.method not in methods:
            raise MethodNotAllowed(request.method, methods)
        idempotency_key = request.header("idempotency-key")
        # A retried call with the same Idempotency-Key is the same execution; without one, every call is new.
        unique_key = f"idempotency-key:{idempotency_key}" if idempotency_key else self._new_key()
        fingerprint = request_fingerprint(request) if idempotency_key else None
        outcome = self._firing.fire(target, unique_key, trigger_data(request, auth), request_fingerprint=fingerprint)
        if outcome.status == FiringStatus.REFUSED:
            raise WorkflowPaused(f"the workflow behind {request.path} is not accepting calls: {outcome.reason}")
        return outcome


def build(deps: FiringDeps) -> WebhookFiring:
    if deps.read_secret is None or deps.max_body_bytes is None:
        raise ValueError("the webhook firing needs read_secret and max_body_bytes")
    return WebhookFiring(
        deps.targets, deps.service, deps.read_secret, deps.max_body_bytes, check_secret=deps.check_secret
    )
