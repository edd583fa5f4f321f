"""Webhook triggers (unit, with fakes): trigger data and body parsing, auth, the Basic challenge, credentials
before the method, signed timestamps against replay, refusals and Idempotency-Key retries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from tests.support.fakes import MemoryFiringStore, MemoryQueue
from tests.unit.test_delivery import nested
from tests.unit.test_firing import service as firing_service
from tests.unit.test_firing import target as firing_target
from workflow_scheduler.domain.errors import PayloadTooLarge, SpecInvalid, Unauthorized
from workflow_scheduler.domain.firing import FiringService, FiringStatus, FiringTarget, WorkflowPaused
from workflow_scheduler.domain.json_limits import MAX_JSON_DEPTH
from workflow_scheduler.domain.models import DeploymentStatus, TriggerRecord, TriggerStatus, TriggerType
from workflow_scheduler.domain.spec import parse_workflow_spec
from workflow_scheduler.domain.triggers.webhook.auth import BasicAuthRequired, authenticate
from workflow_scheduler.domain.triggers.webhook.firing import (
    MethodNotAllowed,
    WebhookFiring,
    WebhookNotFound,
    WebhookRequest,
    parse_body,
)
from workflow_scheduler.http import describe_error

SECRETS = {"hook-key": "s3cret", "hook-sig": "It's a Secret to Everybody"}
NOW = 1_800_000_000.0
BODY = b'{"order": 7}'
SIGNED = {
    "type": "hmac_sha256",
    "header": "X-Signature",
    "secret_ref": "hook-sig",
    "timestamp_header": "X-Timestamp",
}
BASIC = {"type": "basic", "username": "bot", "secret_ref": "hook-key"}


def request(
    method: str = "POST", body: bytes = BODY, headers: dict[str, str] | None = None, **named: str
) -> WebhookRequest:
    given = {**(headers or {}), **named}
    merged = {"content-type": "application/json", **{k.replace("_", "-").lower(): v for k, v in given.items()}}
    return WebhookRequest(method, "/webhook/wf", merged, {}, body, "10.0.0.1")


def signature(timestamp: str, body: bytes = BODY, secret: str = SECRETS["hook-sig"]) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def check(auth: dict[str, Any], req: WebhookRequest, now: float = NOW) -> None:
    authenticate(auth, req, SECRETS.__getitem__, now)


# -- signed timestamps ---------------------------------------------------------------------------------------------


def test_a_signed_timestamp_within_the_tolerance_is_accepted() -> None:
    for offset in (-300, -1, 0, 1, 300):
        stamp = str(int(NOW) + offset)
        check(SIGNED, request(x_timestamp=stamp, x_signature=signature(stamp)))


@pytest.mark.parametrize("offset", [-301, 301, -86400, 10**6])
def test_a_timestamp_outside_the_tolerance_is_refused_even_with_a_valid_signature(offset: int) -> None:
    stamp = str(int(NOW) + offset)
    with pytest.raises(Unauthorized, match="300 seconds"):
        check(SIGNED, request(x_timestamp=stamp, x_signature=signature(stamp)))


def test_a_replayed_call_is_refused_once_the_tolerance_has_passed() -> None:
    stamp = str(int(NOW))
    captured = request(x_timestamp=stamp, x_signature=signature(stamp))
    check(SIGNED, captured, now=NOW + 60)
    with pytest.raises(Unauthorized):
        check(SIGNED, captured, now=NOW + 301)


FULLWIDTH_DIGITS = "\uff11\uff18\uff10\uff10"


@pytest.mark.parametrize("stamp", ["", "  ", "1.8e9", "-1800000000", "1800000000.5", "abc", FULLWIDTH_DIGITS, "9" * 40])
def test_a_missing_or_malformed_timestamp_is_refused(stamp: str) -> None:
    headers = {"x_signature": signature(stamp)} | ({"x_timestamp": stamp} if stamp else {})
    with pytest.raises(Unauthorized, match="X-Timestamp"):
        check(SIGNED, request(headers=headers))


def test_the_signature_covers_the_timestamp_and_the_body() -> None:
    stamp = str(int(NOW))
    old = str(int(NOW) - 10)
    body_only = "sha256=" + hmac.new(SECRETS["hook-sig"].encode(), BODY, hashlib.sha256).hexdigest()
    for given in (body_only, signature(old), signature(stamp, body=BODY + b" ")):
        with pytest.raises(Unauthorized, match="does not match the timestamp and the body"):
            check(SIGNED, request(x_timestamp=stamp, x_signature=given))


def test_a_custom_tolerance_applies() -> None:
    auth = {**SIGNED, "timestamp_tolerance_seconds": 30}
    stamp = str(int(NOW) - 31)
    with pytest.raises(Unauthorized, match="30 seconds"):
        check(auth, request(x_timestamp=stamp, x_signature=signature(stamp)))


def test_without_a_timestamp_header_the_signature_covers_the_body_as_before() -> None:
    auth = {key: value for key, value in SIGNED.items() if key != "timestamp_header"}
    published = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    check(auth, request(body=b"Hello, World!", x_signature=published))


def _webhook_auth(**auth: Any) -> dict[str, Any]:
    node = {"id": "h", "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_WEBHOOK", "parameters": {"auth": auth}}
    return parse_workflow_spec({"nodes": [node]}).triggers[0].config["auth"]  # type: ignore[no-any-return]


def test_the_spec_accepts_a_timestamp_header_for_hmac_only() -> None:
    config = _webhook_auth(type="hmac_sha256", header="X-Sig", secret_ref="s", timestamp_header="X-Ts")
    assert config["timestamp_header"] == "X-Ts" and "timestamp_tolerance_seconds" not in config
    # Unset, they are not stored: a trigger deployed before them keeps its configuration (and its hash).
    assert _webhook_auth(type="hmac_sha256", header="X-Sig", secret_ref="s") == {
        "type": "hmac_sha256",
        "header": "X-Sig",
        "secret": None,
        "secret_ref": "s",
        "username": None,
    }
    refused: list[dict[str, Any]] = [
        {"type": "api_key", "header": "X-Key", "secret_ref": "s", "timestamp_header": "X-Ts"},
        {"type": "basic", "username": "u", "secret_ref": "s", "timestamp_header": "X-Ts"},
        {"type": "hmac_sha256", "header": "X-Sig", "secret_ref": "s", "timestamp_tolerance_seconds": 60},
        {"type": "hmac_sha256", "header": "X-Sig", "secret_ref": "s", "timestamp_header": "x-sig"},
        {"type": "hmac_sha256", "header": "X-Sig", "secret_ref": "s", "timestamp_header": "X Ts"},
        {"type": "hmac_sha256", "header": "X-Sig", "secret_ref": "s", "timestamp_header": "X-Ts",
         "timestamp_tolerance_seconds": 0},
    ]  # fmt: skip
    for auth in refused:
        with pytest.raises(SpecInvalid):
            _webhook_auth(**auth)


# -- the Basic challenge and the order of the checks ---------------------------------------------------------------


def target(auth: dict[str, Any], methods: list[str] | None = None) -> FiringTarget:
    config = {"methods": methods or ["POST"], "auth": auth}
    record = TriggerRecord(
        workflow_id="wf",
        trigger_id="h",
        type=TriggerType.WEBHOOK,
        config=config,
        config_hash="x",
        version=1,
        status=TriggerStatus.ACTIVE,
        lookup={"webhook_path": "/webhook/wf"},
    )
    return FiringTarget(DeploymentStatus.DEPLOYED, "alice", record)


def service(auth: dict[str, Any], methods: list[str] | None = None, now: float = NOW) -> WebhookFiring:
    store = MemoryFiringStore([target(auth, methods)])
    firing = FiringService(store, MemoryQueue())
    return WebhookFiring(store, firing, SECRETS.__getitem__, 1024, clock=lambda: now)


@pytest.mark.parametrize("authorization", [None, basic("bot", "nope"), basic("eve", "s3cret"), "Basic !!!", "Bearer x"])
def test_a_refused_basic_auth_call_carries_the_basic_challenge(authorization: str | None) -> None:
    headers = {"authorization": authorization} if authorization else {}
    with pytest.raises(BasicAuthRequired) as refused:
        service(BASIC).fire(request(headers=headers))
    status, body, response_headers = describe_error(refused.value, bearer=False)
    assert status == 401 and body["error"] == "unauthorized"
    assert response_headers["WWW-Authenticate"] == 'Basic realm="/webhook/wf", charset="UTF-8"'
    assert "s3cret" not in str(body)


def test_other_auth_types_get_no_basic_challenge() -> None:
    with pytest.raises(Unauthorized) as refused:
        service({"type": "api_key", "header": "X-Key", "secret_ref": "hook-key"}).fire(request(x_key="no"))
    assert "WWW-Authenticate" not in describe_error(refused.value, bearer=False)[2]


@pytest.mark.parametrize(
    "auth",
    [BASIC, {"type": "api_key", "header": "X-Key", "secret_ref": "hook-key"}, SIGNED],
    ids=["basic", "api_key", "hmac"],
)
def test_a_wrong_method_with_wrong_credentials_is_401_not_405(auth: dict[str, Any]) -> None:
    with pytest.raises(Unauthorized) as refused:
        service(auth).fire(request("GET", body=b"", authorization=basic("bot", "wrong"), x_key="wrong"))
    assert "Allow" not in describe_error(refused.value, bearer=False)[2]


def test_a_wrong_method_with_the_right_credentials_is_405_with_allow() -> None:
    with pytest.raises(MethodNotAllowed) as refused:
        service(BASIC, methods=["POST", "PUT"]).fire(request("GET", authorization=basic("bot", "s3cret")))
    status, _, headers = describe_error(refused.value, bearer=False)
    assert status == 405 and headers["Allow"] == "POST, PUT"


def test_the_service_uses_its_clock_for_signed_timestamps() -> None:
    stamp = str(int(NOW))
    signed = request(x_timestamp=stamp, x_signature=signature(stamp))
    assert service(SIGNED).fire(signed).accepted
    with pytest.raises(Unauthorized):
        service(SIGNED, now=NOW + 301).fire(signed)


# -- firing: trigger data, auth, refusals, idempotency, bodies -----------------------------------------------------


def hook(auth: dict[str, Any] | None = None, methods: list[str] | None = None, **kwargs: Any) -> FiringTarget:
    config = {"methods": methods or ["POST"], "auth": auth or {"type": "none"}}
    return firing_target("h", TriggerType.WEBHOOK, config, lookup={"webhook_path": "/webhook/wf"}, **kwargs)


def webhooks(*targets: FiringTarget, queue: MemoryQueue | None = None, max_body: int = 1024) -> WebhookFiring:
    store = MemoryFiringStore(list(targets))
    return WebhookFiring(store, firing_service(queue, store), SECRETS.__getitem__, max_body, new_key=lambda: "fresh")


def call(method: str = "POST", body: bytes = b'{"a": 1}', **headers: str) -> WebhookRequest:
    merged = {"content-type": "application/json", **{k.replace("_", "-").lower(): v for k, v in headers.items()}}
    return WebhookRequest(method, "/webhook/wf", merged, {"q": ["1"], "m": ["a", "b"]}, body, "10.0.0.1")


def test_webhook_trigger_data() -> None:
    queue = MemoryQueue()
    auth = {"type": "api_key", "header": "X-Key", "secret_ref": "hook-key"}
    outcome = webhooks(hook(auth), queue=queue).fire(call(x_key="s3cret", user_agent="curl", cookie="c=1"))
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
    assert service_.fire(call(body=body, x_hub_signature_256=published)).status is FiringStatus.QUEUED
    computed = "sha256=" + hmac.new(b"It's a Secret to Everybody", body, hashlib.sha256).hexdigest()
    assert computed == published
    with pytest.raises(Unauthorized, match="does not match"):
        service_.fire(call(body=body + b" ", x_hub_signature_256=published))
    with pytest.raises(Unauthorized, match="missing"):
        service_.fire(call(body=body))


def test_basic_auth() -> None:
    auth = {"type": "basic", "username": "bot", "secret_ref": "hook-key"}
    service_ = webhooks(hook(auth))

    assert service_.fire(call(authorization=basic("bot", "s3cret"))).accepted
    for header in (basic("bot", "nope"), basic("root", "s3cret"), "Basic !!!", "Bearer x"):
        with pytest.raises(Unauthorized):
            service_.fire(call(authorization=header))


def test_webhook_refusals() -> None:
    service_ = webhooks(hook(methods=["POST", "PUT"]), max_body=10)
    with pytest.raises(MethodNotAllowed) as caught:
        service_.fire(call("GET", body=b""))
    assert caught.value.allowed == ["POST", "PUT"]
    with pytest.raises(PayloadTooLarge):
        service_.fire(call(body=b"x" * 11))
    with pytest.raises(WebhookNotFound):
        service_.fire(WebhookRequest("POST", "/webhook/other", {}, {}, b""))
    with pytest.raises(WorkflowPaused):
        webhooks(hook(deployment=DeploymentStatus.PAUSED)).fire(call())


def test_idempotency_key_makes_retries_one_execution() -> None:
    queue = MemoryQueue()
    service_ = webhooks(hook(), queue=queue)
    first = service_.fire(call(idempotency_key="abc"))
    second = service_.fire(call(idempotency_key="abc"))
    third = service_.fire(call(idempotency_key="xyz"))
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
    assert parse_body(body, content_type) == (parsed, encoding)


# -- bodies at and past the JSON limits ----------------------------------------------------------------------------


def test_a_json_body_at_the_depth_limit_is_passed_on_parsed() -> None:
    body = nested(MAX_JSON_DEPTH)
    assert parse_body(json.dumps(body).encode(), "application/json") == (body, "json")


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH + 1, 200, 300, 50_000])
def test_a_json_body_nested_deeper_than_the_limit_is_refused_with_422(levels: int) -> None:
    with pytest.raises(SpecInvalid) as refused:
        parse_body(b"[" * levels + b"]" * levels, "application/vnd.api+json")
    [problem] = refused.value.problems
    assert problem.field == "body" and f"deeper than {MAX_JSON_DEPTH} levels" in problem.message


def test_a_deep_body_is_refused_before_anything_is_recorded_or_queued() -> None:
    deployed = firing_target("hook", TriggerType.WEBHOOK, lookup={"webhook_path": "/webhook/wf"})
    store, queue = MemoryFiringStore([deployed]), MemoryQueue()
    firing = WebhookFiring(store, firing_service(queue, store), lambda name: "", max_body_bytes=1024 * 1024)
    deep = WebhookRequest(
        "POST", "/webhook/wf", {"content-type": "application/json"}, body=json.dumps(nested(200)).encode()
    )
    with pytest.raises(SpecInvalid):
        firing.fire(deep)
    assert store.rows == [] and queue.sent == []


@pytest.mark.parametrize(
    "body",
    [
        b'{"price": NaN}',
        b'{"price": Infinity, "floor": -Infinity}',
        b'{"price": 1e999}',
        b"[1, 2, -1E400]",
        b'{"name": "\\ud800 alone"}',
        b'{"name": "tail \\udfff"}',
    ],
)
def test_non_standard_json_is_passed_on_as_its_exact_text(body: bytes) -> None:
    assert parse_body(body, "application/json") == (body.decode(), "text")


def test_standard_json_with_surrogate_pairs_and_nul_is_passed_on_parsed() -> None:
    body = b'{"emoji": "\\ud83d\\ude00", "nul": "a\\u0000b", "big": 1e308}'
    assert parse_body(body, "application/json") == ({"emoji": "\U0001f600", "nul": "a\x00b", "big": 1e308}, "json")
