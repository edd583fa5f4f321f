from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.fakes import MemoryFiringStore, MemoryQueue
from workflow_scheduler.domain.errors import PayloadTooLarge, Unauthorized
from workflow_scheduler.domain.firing import (
    DispatchUnavailable,
    FiringService,
    FiringStatus,
    FiringTarget,
    WorkflowPaused,
    execution_id_for,
)
from workflow_scheduler.domain.models import DeploymentStatus, TriggerRecord, TriggerStatus, TriggerType
from workflow_scheduler.domain.triggers.manual.firing import (
    ConfirmationRequired,
    ManualFiring,
    ManualRequest,
    NoManualTrigger,
)
from workflow_scheduler.domain.triggers.webhook.firing import (
    MethodNotAllowed,
    WebhookFiring,
    WebhookNotFound,
    WebhookRequest,
)

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
SECRETS = {"hook-key": "s3cret", "hook-sig": "It's a Secret to Everybody"}


def target(
    trigger_id: str = "t",
    type_: TriggerType = TriggerType.MANUAL,
    config: dict[str, Any] | None = None,
    deployment: DeploymentStatus = DeploymentStatus.DEPLOYED,
    status: TriggerStatus = TriggerStatus.ACTIVE,
    version: int = 3,
    lookup: dict[str, Any] | None = None,
) -> FiringTarget:
    record = TriggerRecord("wf", trigger_id, type_, config or {}, "hash", version, status, lookup or {})
    return FiringTarget(deployment, "alice", record)


def service(queue: MemoryQueue | None = None, store: MemoryFiringStore | None = None) -> FiringService:
    return FiringService(store or MemoryFiringStore(), queue or MemoryQueue(), clock=lambda: NOW)


def test_execution_ids_are_deterministic_and_distinct() -> None:
    a = execution_id_for("wf", "t", "k")
    assert a == execution_id_for("wf", "t", "k") and a.startswith("exec_")
    assert (
        len(
            {a, execution_id_for("wf", "t", "k2"), execution_id_for("wf", "t2", "k"), execution_id_for("wf2", "t", "k")}
        )
        == 4
    )
    # the separator keeps ("a", "bc") and ("ab", "c") apart
    assert execution_id_for("a", "bc", "k") != execution_id_for("ab", "c", "k")


def test_accepted_firing_is_claimed_then_queued() -> None:
    store, queue = MemoryFiringStore(), MemoryQueue()
    outcome = service(queue, store).fire(target(), "k", {"x": 1})
    assert outcome.status is FiringStatus.QUEUED
    [(event, delay)] = queue.sent
    assert event.execution_id == outcome.execution_id and event.version == 3 and delay == 0
    assert event.engine_body() == {
        "execution_id": outcome.execution_id,
        "workflow_id": "wf",
        "trigger": {"type": "manual", "trigger_id": "t", "data": {"x": 1}},
        "triggered_at": NOW.isoformat(),
    }
    assert store.rows == [(outcome.execution_id, "queued", None)]


def test_same_firing_twice_is_one_execution() -> None:
    store, queue = MemoryFiringStore(), MemoryQueue()
    fire = service(queue, store)
    first, second = fire.fire(target(), "k", {}), fire.fire(target(), "k", {})
    assert first.execution_id == second.execution_id and second.status is FiringStatus.DUPLICATE
    assert len(queue.sent) == 1
    assert [s for _, s, _ in store.rows] == ["queued", "duplicate"]


@pytest.mark.parametrize(
    ("kwargs", "fired_version", "reason"),
    [
        ({"deployment": DeploymentStatus.PAUSED}, None, "paused"),
        ({"deployment": DeploymentStatus.UNDEPLOYED}, None, "not deployed"),
        ({"status": TriggerStatus.DISABLED}, None, "switched off"),
        ({}, 2, "version 2"),
    ],
)
def test_refused_firings_are_recorded_never_sent(
    kwargs: dict[str, Any], fired_version: int | None, reason: str
) -> None:
    store, queue = MemoryFiringStore(), MemoryQueue()
    outcome = service(queue, store).fire(target(**kwargs), "k", {}, fired_version=fired_version)
    assert outcome.status is FiringStatus.REFUSED and reason in (outcome.reason or "")
    assert queue.sent == [] and store.claimed == {}
    assert store.rows == [(outcome.execution_id, "refused", outcome.reason)]


def test_queue_outage_frees_the_execution_id_for_a_retry() -> None:
    store, queue = MemoryFiringStore(), MemoryQueue(fail=True)
    fire = service(queue, store)
    with pytest.raises(DispatchUnavailable):
        fire.fire(target(), "k", {})
    assert store.claimed == {} and store.rows[-1][1] == "failed"
    queue.fail = False
    assert fire.fire(target(), "k", {}).status is FiringStatus.QUEUED


def test_oversized_data_travels_by_reference() -> None:
    queue = MemoryQueue()
    service(queue).fire(target(), "k", {"blob": "x" * (1024 * 1024)})
    [(event, _)] = queue.sent
    assert event.payload_stored and event.data == {}


# -- manual -------------------------------------------------------------------------------------------------


def manual_runs(*targets: FiringTarget, queue: MemoryQueue | None = None) -> ManualFiring:
    store = MemoryFiringStore(list(targets))
    return ManualFiring(store, service(queue, store), clock=lambda: NOW, new_key=lambda: "fresh")


def test_manual_run_data_and_confirmation() -> None:
    queue = MemoryQueue()
    runs = manual_runs(target(config={"require_confirmation": True}), queue=queue)
    with pytest.raises(ConfirmationRequired):
        runs.fire(ManualRequest("wf", "alice", confirmation=False, inputs={}))
    assert queue.sent == []
    outcome = runs.fire(ManualRequest("wf", "alice", confirmation=True, inputs={"n": 1}))
    [(event, _)] = queue.sent
    assert event.data == {
        "trigger_time": NOW.isoformat(),
        "execution_id": outcome.execution_id,
        "user_id": "alice",
        "inputs": {"n": 1},
    }


def test_manual_run_refusals() -> None:
    with pytest.raises(WorkflowPaused):
        manual_runs(target(deployment=DeploymentStatus.PAUSED)).fire(
            ManualRequest("wf", "alice", confirmation=True, inputs={})
        )
    with pytest.raises(NoManualTrigger):
        manual_runs(target(type_=TriggerType.WEBHOOK)).fire(ManualRequest("wf", "alice", confirmation=True, inputs={}))
    from workflow_scheduler.domain.errors import DeploymentNotFound

    with pytest.raises(DeploymentNotFound):
        manual_runs(target()).fire(ManualRequest("wf", "mallory", confirmation=True, inputs={}))


# -- webhook ------------------------------------------------------------------------------------------------


def hook(auth: dict[str, Any] | None = None, methods: list[str] | None = None, **kwargs: Any) -> FiringTarget:
    config = {"methods": methods or ["POST"], "auth": auth or {"type": "none"}}
    return target("h", TriggerType.WEBHOOK, config, lookup={"webhook_path": "/webhook/wf"}, **kwargs)


def webhooks(*targets: FiringTarget, queue: MemoryQueue | None = None, max_body: int = 1024) -> WebhookFiring:
    store = MemoryFiringStore(list(targets))
    return WebhookFiring(store, service(queue, store), SECRETS.__getitem__, max_body, new_key=lambda: "fresh")


def request(method: str = "POST", body: bytes = b'{"a": 1}', **headers: str) -> WebhookRequest:
    merged = {"content-type": "application/json", **{k.replace("_", "-").lower(): v for k, v in headers.items()}}
    return WebhookRequest(method, "/webhook/wf", merged, {"q": ["1"], "m": ["a", "b"]}, body, "10.0.0.1")


def test_webhook_trigger_data() -> None:
    queue = MemoryQueue()
    auth = {"type": "api_key", "header": "X-Key", "secret_ref": "hook-key"}
    outcome = webhooks(hook(auth), queue=queue).fire(request(x_key="s3cret", user_agent="curl", cookie="c=1"))
    assert outcome.status is FiringStatus.QUEUED
    [(event, _)] = queue.sent
    assert event.data == {
        "headers": {"content-type": "application/json", "user-agent": "curl"},
        "body": {"a": 1},
        "body_encoding": "json",
        "query_params": {"q": "1", "m": ["a", "b"]},
        "method": "POST",
        "path": "/webhook/wf",
        "source_ip": "10.0.0.1",
    }


def test_hmac_signature_uses_the_raw_body() -> None:
    auth = {"type": "hmac_sha256", "header": "X-Hub-Signature-256", "secret_ref": "hook-sig"}
    body = b"Hello, World!"
    published = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    service_ = webhooks(hook(auth))
    assert service_.fire(request(body=body, x_hub_signature_256=published)).status is FiringStatus.QUEUED
    computed = "sha256=" + hmac.new(b"It's a Secret to Everybody", body, hashlib.sha256).hexdigest()
    assert computed == published
    with pytest.raises(Unauthorized, match="does not match"):
        service_.fire(request(body=body + b" ", x_hub_signature_256=published))
    with pytest.raises(Unauthorized, match="missing"):
        service_.fire(request(body=body))


def test_basic_auth() -> None:
    auth = {"type": "basic", "username": "bot", "secret_ref": "hook-key"}
    service_ = webhooks(hook(auth))

    def basic(user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    assert service_.fire(request(authorization=basic("bot", "s3cret"))).accepted
    for header in (basic("bot", "nope"), basic("root", "s3cret"), "Basic !!!", "Bearer x"):
        with pytest.raises(Unauthorized):
            service_.fire(request(authorization=header))


def test_webhook_refusals() -> None:
    service_ = webhooks(hook(methods=["POST", "PUT"]), max_body=10)
    with pytest.raises(MethodNotAllowed) as caught:
        service_.fire(request("GET", body=b""))
    assert caught.value.allowed == ["POST", "PUT"]
    with pytest.raises(PayloadTooLarge):
        service_.fire(request(body=b"x" * 11))
    with pytest.raises(WebhookNotFound):
        service_.fire(WebhookRequest("POST", "/webhook/other", {}, {}, b""))
    with pytest.raises(WorkflowPaused):
        webhooks(hook(deployment=DeploymentStatus.PAUSED)).fire(request())


def test_idempotency_key_makes_retries_one_execution() -> None:
    queue = MemoryQueue()
    service_ = webhooks(hook(), queue=queue)
    first = service_.fire(request(idempotency_key="abc"))
    second = service_.fire(request(idempotency_key="abc"))
    third = service_.fire(request(idempotency_key="xyz"))
    assert first.execution_id == second.execution_id != third.execution_id
    assert second.status is FiringStatus.DUPLICATE and len(queue.sent) == 2


@pytest.mark.parametrize(
    ("content_type", "body", "parsed", "encoding"),
    [
        ("application/json", b'{"a": [1]}', {"a": [1]}, "json"),
        ("application/json", b"{broken", "{broken", "text"),
        ("application/x-www-form-urlencoded", b"a=1&b=2&b=3", {"a": "1", "b": ["2", "3"]}, "form"),
        ("text/plain; charset=utf-8", "héllo".encode(), "héllo", "text"),
        ("application/octet-stream", b"\x00\xff", base64.b64encode(b"\x00\xff").decode(), "base64"),
        ("", b"", None, "empty"),
    ],
)
def test_body_parsing(content_type: str, body: bytes, parsed: Any, encoding: str) -> None:
    from workflow_scheduler.domain.triggers.webhook.firing import parse_body

    assert parse_body(body, content_type) == (parsed, encoding)
