"""``POST /webhooks/github``: a GitHub App delivery verified, recorded and queued for the router (issue 9).

The signature is checked before anything reads the body; a delivery is recorded under its unique
``X-GitHub-Delivery`` and queued in one step, so the answer (202) means the delivery is durable. GitHub waits
10 s and never retries a failed delivery by itself: anything slow (matching, GitHub API calls) happens in the
router. A delivery id seen before is acknowledged and not processed again; ``ping`` is answered 200.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from workflow_scheduler.domain.errors import Invalid, TooLarge, Unavailable
from workflow_scheduler.domain.json_limits import JsonRefused, loads_strict
from workflow_scheduler.domain.storable import unstorable_reason
from workflow_scheduler.domain.triggers.github.deliveries import (
    Delivery,
    IngressLedger,
    InstallationChange,
    InstallationState,
)
from workflow_scheduler.domain.triggers.github.signature import SIGNATURE_HEADER, verify_signature

EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"
# What reaches the function whole: API Gateway passes the body base64-encoded (4/3 of its size) inside one
# synchronous Lambda invocation, which carries at most 6 MB; API Gateway itself refuses bodies over 10 MB.
# GitHub sends up to 25 MB: a larger delivery is refused (413) and shows as failed in the App's deliveries.
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
INSTALLATION_EVENTS = frozenset({"installation", "installation_repositories"})
_EVENT = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_DELIVERY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")  # GitHub's are GUIDs
_INSTALLATION_STATES = {
    "created": InstallationState.ACTIVE,
    "unsuspend": InstallationState.ACTIVE,
    "suspend": InstallationState.SUSPENDED,
    "deleted": InstallationState.REMOVED,
}
_MAX_NAME = 200


class DeliveryTooLarge(TooLarge):
    code = "payload_too_large"


class DeliveryInvalid(Invalid):
    code = "invalid_delivery"


class GithubNotConfigured(Unavailable):
    """The service lacks a setting GitHub deliveries need (the webhook secret, the queue): an operator's fix."""

    code = "github_not_configured"


class ReceiptKind(StrEnum):
    PONG = "pong"  # the App's webhook works
    ACCEPTED = "accepted"  # recorded and queued for the router
    RECORDED = "recorded"  # recorded; nothing to route (an installation event, no repository)
    DUPLICATE = "duplicate"  # recorded before: acknowledged, not processed again


@dataclass(frozen=True)
class Receipt:
    kind: ReceiptKind
    delivery_id: str
    event: str
    note: str | None = None


@dataclass(frozen=True)
class GithubRequest:
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class DeliveryQueue(Protocol):
    def send(self, delivery_id: str) -> None:
        """Queue the recorded delivery for the router; ``Unavailable`` when the queue cannot take it."""


# The App's current webhook secrets (more than one while the secret is rotated).
WebhookSecrets = Callable[[], Sequence[str]]


def webhook_secrets_from(value: str) -> list[str]:
    """A secret's value as webhook secrets: a JSON list of strings while rotating, else the whole value."""
    text = value.strip()
    if text.startswith("["):
        try:
            listed = json.loads(text)
        except ValueError:
            listed = None
        if isinstance(listed, list) and listed and all(isinstance(s, str) and s for s in listed):
            return listed
    return [value]


class GithubIngress:
    def __init__(
        self,
        ledger: IngressLedger,
        queue: DeliveryQueue,
        secrets: WebhookSecrets,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self._ledger = ledger
        self._queue = queue
        self._secrets = secrets
        self._max_body_bytes = max_body_bytes

    def receive(self, request: GithubRequest) -> Receipt:
        if len(request.body) > self._max_body_bytes:
            raise DeliveryTooLarge(
                f"the delivery is {len(request.body)} bytes; at most {self._max_body_bytes} are accepted"
            )
        verify_signature(request.body, request.header(SIGNATURE_HEADER), self._secrets())
        event = _header(request, EVENT_HEADER, _EVENT, "a GitHub webhook event name")
        delivery_id = _header(request, DELIVERY_HEADER, _DELIVERY_ID, "a delivery GUID")
        if event == "ping":
            return Receipt(ReceiptKind.PONG, delivery_id, event)
        text, payload = _payload(request.body)
        delivery = _delivery(delivery_id, event, payload, text)
        installation = installation_change(event, payload)
        note = _nothing_to_route(delivery)
        with self._ledger.record(delivery, note=note, installation=installation) as fresh:
            if fresh and note is None:
                self._queue.send(delivery_id)  # a failure rolls the record back: GitHub sees it failed
        if not fresh:
            return Receipt(ReceiptKind.DUPLICATE, delivery_id, event, "this delivery was received before")
        return Receipt(ReceiptKind.ACCEPTED if note is None else ReceiptKind.RECORDED, delivery_id, event, note)


def installation_change(event: str, payload: Mapping[str, Any]) -> InstallationChange | None:
    """What an ``installation`` or ``installation_repositories`` event says about its installation."""
    installation = _object(payload.get("installation"))
    installation_id = installation.get("id")
    if event not in INSTALLATION_EVENTS or not isinstance(installation_id, int) or isinstance(installation_id, bool):
        return None
    account = _object(installation.get("account"))
    action = _text(payload.get("action"))
    selection = _text(installation.get("repository_selection")) or _text(payload.get("repository_selection"))
    if event == "installation":
        return InstallationChange(
            installation_id,
            state=_INSTALLATION_STATES.get(action or ""),
            account_login=_text(account.get("login")),
            account_type=_text(account.get("type")),
            repository_selection=selection,
            repositories=_names(payload.get("repositories")) if action == "created" else None,
        )
    return InstallationChange(
        installation_id,
        account_login=_text(account.get("login")),
        account_type=_text(account.get("type")),
        repository_selection=selection,
        added=_names(payload.get("repositories_added")),
        removed=_names(payload.get("repositories_removed")),
    )


def _header(request: GithubRequest, name: str, form: re.Pattern[str], what: str) -> str:
    value = (request.header(name) or "").strip()
    if not value:
        raise DeliveryInvalid(f"the {name} header is missing")
    if not form.match(value):
        raise DeliveryInvalid(f"the {name} header is not {what}")
    return value


def _payload(body: bytes) -> tuple[str, Mapping[str, Any]]:
    """The body as text (stored byte for byte) and parsed."""
    try:
        text = body.decode()
    except UnicodeDecodeError as exc:
        raise DeliveryInvalid("the delivery's body is not UTF-8 text") from exc
    try:
        payload = loads_strict(text)
    except JsonRefused as exc:
        raise DeliveryInvalid(f"the delivery's body cannot be read: {exc.reason}") from exc
    except ValueError as exc:
        raise DeliveryInvalid("the delivery's body is not JSON (GitHub App webhooks send JSON)") from exc
    if not isinstance(payload, dict):
        raise DeliveryInvalid("the delivery's body is not a JSON object")
    return text, payload


def _delivery(delivery_id: str, event: str, payload: Mapping[str, Any], body: str) -> Delivery:
    installation = _object(payload.get("installation")).get("id")
    return Delivery(
        delivery_id=delivery_id,
        event=event,
        action=_text(payload.get("action")),
        repository=_text(_object(payload.get("repository")).get("full_name")),
        installation_id=installation if isinstance(installation, int) and not isinstance(installation, bool) else None,
        sender=_text(_object(payload.get("sender")).get("login")),
        body=body,
    )


def _nothing_to_route(delivery: Delivery) -> str | None:
    """Why the delivery needs no routing, or None: it goes to the router."""
    if delivery.event in INSTALLATION_EVENTS:
        return "an installation event: it updates the installation's record and fires nothing"
    if delivery.repository is None:
        return "the event names no repository: no GitHub trigger can match it"
    return None


def _names(value: Any) -> tuple[str, ...]:
    repositories = value if isinstance(value, list) else []
    return tuple(name for r in repositories if (name := _text(_object(r).get("full_name"))))


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    """A short string field of the payload that can be stored, or None (what is recorded must stay small)."""
    if not isinstance(value, str) or not value or unstorable_reason(value):
        return None
    return value[:_MAX_NAME]
