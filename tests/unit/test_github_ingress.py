"""POST /webhooks/github as GitHub sees it: verified before anything is read, recorded once, queued, answered."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.github_fakes import SECRET, MemoryDeliveryQueue, MemoryGithubStore, fixture, signed
from workflow_scheduler.domain.errors import Invalid, TooLarge, Unauthorized, Unavailable
from workflow_scheduler.domain.triggers.github.deliveries import DeliveryStatus, InstallationState
from workflow_scheduler.domain.triggers.github.ingress import (
    GithubIngress,
    GithubNotConfigured,
    GithubRequest,
    ReceiptKind,
    webhook_secrets_from,
)
from workflow_scheduler.settings import GithubWebhookSettings
from workflow_scheduler.wiring import github_ingress

PUSH = "push/with-new-branch.payload.json"


class Secrets:
    def __init__(self, *values: str) -> None:
        self.values = list(values)
        self.asked = 0

    def __call__(self) -> list[str]:
        self.asked += 1
        return self.values


@pytest.fixture
def store() -> MemoryGithubStore:
    return MemoryGithubStore()


@pytest.fixture
def queue() -> MemoryDeliveryQueue:
    return MemoryDeliveryQueue()


@pytest.fixture
def secrets() -> Secrets:
    return Secrets(SECRET)


@pytest.fixture
def ingress(store: MemoryGithubStore, queue: MemoryDeliveryQueue, secrets: Secrets) -> GithubIngress:
    return GithubIngress(store, queue, secrets, max_body_bytes=64 * 1024)


def push_payload() -> dict[str, Any]:
    payload = fixture(PUSH)
    payload["installation"] = {"id": 1}
    return payload


def test_a_signed_delivery_is_recorded_and_queued(
    ingress: GithubIngress, store: MemoryGithubStore, queue: MemoryDeliveryQueue
) -> None:
    request = signed("push", push_payload(), "d-1")
    receipt = ingress.receive(request)
    assert (receipt.kind, receipt.delivery_id, receipt.event) == (ReceiptKind.ACCEPTED, "d-1", "push")
    assert queue.sent == ["d-1"]
    delivery = store.delivery("d-1")
    assert delivery is not None
    assert delivery.body == request.body.decode()  # byte for byte: the router reads what GitHub signed
    assert (delivery.repository, delivery.installation_id, delivery.sender) == (
        "Codertocat/Hello-World",
        1,
        "Codertocat",
    )
    assert delivery.status is DeliveryStatus.RECEIVED


@pytest.mark.parametrize("signature", [None, "", "sha256=" + "0" * 64, "sha1=abc"])
def test_a_missing_or_wrong_signature_is_401_and_nothing_is_recorded(
    ingress: GithubIngress, store: MemoryGithubStore, queue: MemoryDeliveryQueue, signature: str | None
) -> None:
    request = signed("push", push_payload(), "d-1")
    headers = {k: v for k, v in request.headers.items() if k != "x-hub-signature-256"}
    if signature is not None:
        headers["x-hub-signature-256"] = signature
    with pytest.raises(Unauthorized) as refused:
        ingress.receive(GithubRequest(headers, request.body))
    assert "X-Hub-Signature-256" in refused.value.message
    assert store.rows == {} and queue.sent == []


def test_a_body_signed_with_another_secret_is_401(ingress: GithubIngress, store: MemoryGithubStore) -> None:
    with pytest.raises(Unauthorized):
        ingress.receive(signed("push", push_payload(), "d-1", secret="another secret"))
    assert store.rows == {}


def test_the_signature_is_checked_before_the_body_is_read(ingress: GithubIngress) -> None:
    good = signed("push", b"not json at all", "d-1")
    forged = GithubRequest({**good.headers, "x-hub-signature-256": "sha256=" + "1" * 64}, good.body)
    with pytest.raises(Unauthorized):  # not 422: an unsigned body is never parsed
        ingress.receive(forged)
    with pytest.raises(Invalid) as unreadable:
        ingress.receive(good)
    assert "not JSON" in unreadable.value.message


def test_a_delivery_over_the_cap_is_413_without_hashing_it(
    ingress: GithubIngress, secrets: Secrets, store: MemoryGithubStore
) -> None:
    payload = push_payload() | {"padding": "x" * 70 * 1024}
    with pytest.raises(TooLarge) as refused:
        ingress.receive(signed("push", payload, "d-1"))
    assert "at most 65536" in refused.value.message
    assert secrets.asked == 0 and store.rows == {}


def test_ping_is_answered_and_nothing_is_recorded(
    ingress: GithubIngress, store: MemoryGithubStore, queue: MemoryDeliveryQueue
) -> None:
    receipt = ingress.receive(signed("ping", fixture("ping/payload.json"), "p-1"))
    assert receipt.kind is ReceiptKind.PONG
    assert store.rows == {} and queue.sent == []


def test_a_delivery_seen_before_is_acknowledged_and_not_queued_again(
    ingress: GithubIngress, queue: MemoryDeliveryQueue
) -> None:
    request = signed("push", push_payload(), "d-1")
    assert ingress.receive(request).kind is ReceiptKind.ACCEPTED
    again = ingress.receive(request)
    assert again.kind is ReceiptKind.DUPLICATE
    assert queue.sent == ["d-1"]


def test_a_delivery_that_cannot_be_queued_is_not_recorded_so_a_redelivery_goes_through(
    ingress: GithubIngress, store: MemoryGithubStore, queue: MemoryDeliveryQueue
) -> None:
    queue.fail = True
    with pytest.raises(Unavailable):
        ingress.receive(signed("push", push_payload(), "d-1"))
    assert store.rows == {}
    queue.fail = False
    assert ingress.receive(signed("push", push_payload(), "d-1")).kind is ReceiptKind.ACCEPTED


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"x-github-event": None}, "X-GitHub-Event header is missing"),
        ({"x-github-delivery": None}, "X-GitHub-Delivery header is missing"),
        ({"x-github-event": "Pull-Request"}, "X-GitHub-Event header is not"),
        ({"x-github-delivery": "a b"}, "X-GitHub-Delivery header is not"),
    ],
)
def test_headers_github_always_sends_are_required(
    ingress: GithubIngress, headers: dict[str, str | None], message: str
) -> None:
    request = signed("push", push_payload(), "d-1")
    changed = {k: v for k, v in {**request.headers, **headers}.items() if v is not None}
    with pytest.raises(Invalid) as refused:
        ingress.receive(GithubRequest(changed, request.body))
    assert message in refused.value.message


def test_a_signed_body_that_is_not_an_object_is_422(ingress: GithubIngress) -> None:
    with pytest.raises(Invalid):
        ingress.receive(signed("push", b"[1, 2]", "d-1"))
    with pytest.raises(Invalid):
        ingress.receive(signed("push", b'{"n": NaN}', "d-2"))


def test_installation_events_keep_the_installation_current_and_fire_nothing(
    ingress: GithubIngress, store: MemoryGithubStore, queue: MemoryDeliveryQueue
) -> None:
    receipt = ingress.receive(signed("installation", fixture("installation/created.payload.json"), "i-1"))
    assert receipt.kind is ReceiptKind.RECORDED
    assert store.installation_state(957387) is InstallationState.ACTIVE
    assert store.installations[957387]["repositories"] == {"Codertocat/Hello-World"}

    ingress.receive(signed("installation_repositories", fixture("installation_repositories/added.payload.json"), "i-2"))
    assert store.installations[957387]["repositories"] == {"Codertocat/Hello-World", "Codertocat/Space"}

    suspend = fixture("installation/suspend.payload.json")
    ingress.receive(signed("installation", suspend, "i-3"))
    assert store.installation_state(suspend["installation"]["id"]) is InstallationState.SUSPENDED
    ingress.receive(signed("installation", fixture("installation/unsuspend.payload.json"), "i-4"))
    assert store.installation_state(suspend["installation"]["id"]) is InstallationState.ACTIVE

    deleted = fixture("installation/deleted.payload.json")
    ingress.receive(signed("installation", deleted, "i-5"))
    assert store.installation_state(deleted["installation"]["id"]) is InstallationState.REMOVED
    assert queue.sent == []  # nothing to route
    recorded = store.delivery("i-5")
    assert recorded is not None and recorded.status is DeliveryStatus.ROUTED


def test_an_event_without_a_repository_is_recorded_with_why_it_fires_nothing(
    ingress: GithubIngress, store: MemoryGithubStore, queue: MemoryDeliveryQueue
) -> None:
    receipt = ingress.receive(signed("github_app_authorization", {"action": "revoked", "sender": {}}, "a-1"))
    assert receipt.kind is ReceiptKind.RECORDED
    assert receipt.note is not None and "no repository" in receipt.note
    assert queue.sent == [] and "a-1" in store.rows


def test_while_the_secret_is_rotated_both_secrets_verify(store: MemoryGithubStore, queue: MemoryDeliveryQueue) -> None:
    secrets = webhook_secrets_from(json.dumps(["new secret", SECRET]))
    ingress = GithubIngress(store, queue, lambda: secrets)
    ingress.receive(signed("push", push_payload(), "d-old"))
    ingress.receive(signed("push", push_payload(), "d-new", secret="new secret"))
    assert queue.sent == ["d-old", "d-new"]
    assert webhook_secrets_from("[not json") == ["[not json"]  # a plain secret that merely starts with "["


def test_without_a_webhook_secret_deliveries_are_503(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_WEBHOOK_SECRET", "GITHUB_WEBHOOK_SECRET_ARN", "GITHUB_EVENTS_QUEUE_URL"):
        monkeypatch.delenv(name, raising=False)
    ingress = github_ingress(GithubWebhookSettings(database_url="postgresql://127.0.0.1:1/none"))
    with pytest.raises(GithubNotConfigured) as refused:
        ingress.receive(signed("push", push_payload(), "d-1"))
    assert "GITHUB_WEBHOOK_SECRET_ARN" in refused.value.message
