"""Bad input to the API function is a 4xx with the error shape, never a 5xx; no error echoes a secret.

The API function runs in-process against real PostgreSQL and moto, driven by the sample events as API Gateway
would send them; the inputs are the ones that were 500/502 before (issue 7, sections 3 and 4), plus random ones.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.conftest import Stack
from tests.support.api import ApiClient, deploy_body, manual, webhook
from tests.support.events import load_event, with_path, with_token
from workflow_scheduler.local.invoke import LocalContext

SECRET = "s3cr3t-Value-that-must-never-come-back"


@pytest.fixture(scope="module")
def api(stack: Stack) -> ApiClient:
    return stack.api()


@pytest.fixture
def client(api: ApiClient, clean_database: str) -> ApiClient:
    return api


def send(
    client: ApiClient,
    name: str,
    body: str | bytes | None = None,
    *,
    workflow_id: str = "wf-in",
    content_type: str | None = "application/json",
    query: dict[str, str] | None = None,
    token: str | None = None,
) -> tuple[int, Any, str]:
    """One raw request through the handler: status, parsed body (or text) and the raw response text."""
    event = with_token(with_path(load_event("api", name), workflow_id), token or client.token("alice"))
    headers = {k: v for k, v in event["headers"].items() if k.lower() != "content-type"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    event["headers"], event["multiValueHeaders"] = headers, {k: [v] for k, v in headers.items()}
    if body is not None:
        raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
        event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode(), True
    if query is not None:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    result = client.handler.lambda_handler(event, LocalContext(function_name="api"))
    text = result.get("body") or ""
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        parsed = text
    return result["statusCode"], parsed, text


def assert_client_error(status: int, body: Any, expected: int | None = None) -> None:
    assert 400 <= status < 500, (status, body)
    if expected is not None:
        assert status == expected, (status, body)
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and isinstance(body.get("message"), str)
    assert body["message"], body


SPEC = json.dumps(deploy_body(manual("m")))


# -- media types ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/octet-stream",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "application/json; charset=latin-1",
        "application/jsonp",
        "text/json",
    ],
)
@pytest.mark.parametrize("route", ["deploy", "update", "manual"])
def test_a_body_that_is_not_declared_json_is_415(client: ApiClient, content_type: str, route: str) -> None:
    status, body, _ = send(client, route, SPEC if route != "manual" else "{}", content_type=content_type)
    assert_client_error(status, body, 415)
    assert body["error"] == "unsupported_media_type" and "application/json" in body["message"]


@pytest.mark.parametrize(
    "content_type",
    [
        "Application/JSON",
        "APPLICATION/JSON; Charset=UTF-8",
        "application/json; charset=utf-8",
        "application/vnd.api+json",
        'application/merge-patch+json; charset="utf-8"',
        None,
    ],
)
def test_json_media_types_are_read_as_json(client: ApiClient, content_type: str | None) -> None:
    status, body, _ = send(client, "deploy", SPEC, content_type=content_type)
    assert status == 200, body
    assert body["status"] == "deployed"


# -- bodies the database or the parser cannot take ------------------------------------------------------------------


def spec_text(**extra: Any) -> str:
    node = manual("m")
    node.update(extra)
    return json.dumps(deploy_body(node, {"id": "act", "node_type": "ACTION_NODE", "data": "x"}))


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        (spec_text(note="a\u0000b"), "workflow_spec.nodes.0.note", "NUL"),
        (spec_text(**{"k\u0000ey": 1}), "workflow_spec.nodes.0.k?ey", "NUL"),
        (spec_text(note="x\ud800y"), "workflow_spec.nodes.0.note", "surrogate"),
        (spec_text(**{"\udc00": 1}), "workflow_spec.nodes.0.?", "surrogate"),
        (json.dumps(deploy_body(manual("m\u0000"))), "workflow_spec.nodes.0.id", "NUL"),
        (json.dumps(deploy_body(manual("m"), name="n\u0000")), "workflow_spec.name", "NUL"),
        (SPEC[:-2] + ', "x": [1, "\\u0000"]}}', "workflow_spec.x.1", "NUL"),
    ],
)
def test_unstorable_strings_anywhere_in_a_spec_are_422_naming_the_field(
    client: ApiClient, text: str, field: str, words: str
) -> None:
    status, body, _ = send(client, "deploy", text)
    assert_client_error(status, body, 422)
    assert body["problems"][0]["field"] == field and words in body["problems"][0]["message"], body


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (SPEC[:-2] + ', "x": Infinity}}', "Infinity"),
        (SPEC[:-2] + ', "x": -Infinity}}', "Infinity"),
        (SPEC[:-2] + ', "x": NaN}}', "NaN"),
        (SPEC[:-2] + ', "x": 1e999}}', "too large"),
        (SPEC[:-2] + ', "x": ' + "[" * 500 + "]" * 500 + "}}", "deeper than 64"),
        (SPEC[:-2] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}}", "deeper than 64"),
        (SPEC[:-2] + ', "x": ' + "[" * 63 + "]" * 63 + "}}", "deeper than 64"),
        ("", "required"),
        ("{", "not valid JSON"),
        ("[]", "body"),
        ('"text"', ""),
    ],
)
def test_non_standard_or_too_deep_json_is_422(client: ApiClient, text: str, words: str) -> None:
    status, body, _ = send(client, "deploy", text)
    assert_client_error(status, body, 422)
    assert words in body["message"], body


def test_manual_inputs_are_held_to_the_same_rules(client: ApiClient) -> None:
    assert send(client, "deploy", SPEC, workflow_id="wf-in")[0] == 200
    for inputs in ('{"inputs": {"a\\u0000": 1}}', '{"inputs": {"a": "\\ud83d"}}', '{"inputs": {"a": NaN}}'):
        status, body, _ = send(client, "manual", inputs, workflow_id="wf-in")
        assert_client_error(status, body, 422)
    status, body, _ = send(client, "manual", '{"inputs": {"a": "\\ud83d\\ude00"}}', workflow_id="wf-in")
    assert status == 200, body  # a surrogate pair is an ordinary character


def test_a_body_that_is_not_utf8_is_422(client: ApiClient) -> None:
    status, body, _ = send(client, "deploy", b'{"workflow_spec": "\xff"}')
    assert_client_error(status, body, 422)


# -- parameters, cursors and tokens ---------------------------------------------------------------------------------


def forged(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize(
    "query",
    [
        {"trigger_id": "\u0000"},
        {"trigger_id": "a\ud800"},
        {"status": "\u0000"},
        {"cursor": "\u0000"},
        {"cursor": "not base64 at all!"},
        {"cursor": "é"},
        {"cursor": forged({"a": 1, "b": 2})},
        {"cursor": forged(["2026-01-01T00:00:00+00:00", "not-a-uuid"])},
        {"cursor": forged(["2026-01-01T00:00:00+00:00", "00000000-0000-0000-0000-00000000000\u0000"])},
        {"cursor": forged(["not a date", str(uuid.uuid4())])},
        {"cursor": forged(["2026-01-01T00:00:00", str(uuid.uuid4())])},
        {"cursor": forged([1, 2])},
        {"cursor": forged([1, 2, 3])},
        {"cursor": forged("x")},
        {"cursor": forged(None)},
        {"cursor": base64.urlsafe_b64encode(b"[NaN, 1]").decode()},
        {"cursor": base64.urlsafe_b64encode(b"\xff\xfe").decode()},
        {"limit": "\u0000"},
    ],
)
def test_bad_query_parameters_and_forged_cursors_are_422(client: ApiClient, query: dict[str, str]) -> None:
    assert send(client, "deploy", SPEC)[0] == 200
    status, body, _ = send(client, "events", query=query)
    assert_client_error(status, body, 422)


def test_a_cursor_the_api_gave_out_still_works(client: ApiClient) -> None:
    assert send(client, "deploy", SPEC)[0] == 200
    for _ in range(3):
        assert send(client, "manual", "{}")[0] == 200
    status, first, _ = send(client, "events", query={"limit": "2"})
    assert status == 200 and first["next_cursor"], first
    status, second, _ = send(client, "events", query={"limit": "2", "cursor": first["next_cursor"]})
    assert status == 200 and len(second["events"]) == 1, second


@pytest.mark.parametrize("sub", ["al\u0000ice", "al\nice", "\u0007", "a\ud800", "x" * 257])
def test_a_token_whose_subject_is_not_a_printable_user_id_is_401(client: ApiClient, sub: str) -> None:
    token = jwt.encode({"sub": sub, "exp": int(time.time()) + 60}, client.signing_key, algorithm="HS256")
    status, body, _ = send(client, "deploy", SPEC, token=token)
    assert_client_error(status, body, 401)
    status, body, _ = send(client, "events", token=token)
    assert_client_error(status, body, 401)


# -- secrets never echoed -------------------------------------------------------------------------------------------


def hook_with(auth: dict[str, Any] | None = None, **parameters: Any) -> dict[str, Any]:
    if auth is not None:
        parameters["auth"] = auth
    return deploy_body(webhook("h", **parameters))


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (json.dumps(hook_with({"type": "hmac_sha256", "header": "X-Sig", "secret": SECRET})), "text/plain"),
        ("workflow_spec=" + json.dumps(hook_with({"type": "api_key", "secret": SECRET})), None),
        (json.dumps(hook_with({"type": "api_key", "header": "X-Key", "secret": SECRET})), "multipart/form-data; b=1"),
        (json.dumps(hook_with({"type": "api_key", "header": "X-Key", "secret": [SECRET]})), None),
        (json.dumps(hook_with({"type": "api_key", "header": "X-Key", "secret": {SECRET: SECRET}})), None),
        (json.dumps(hook_with({"type": "api_key", "header": "X-Key", "secret": SECRET * 200})), None),
        (json.dumps(hook_with({"type": "none", "secret": SECRET})), None),
        (json.dumps(hook_with({"type": "api_key", "header": "X-Key", "secret": SECRET, "secret_ref": "a"})), None),
        (json.dumps(hook_with({"type": "api_key", "header": SECRET, "secret": SECRET})), None),
        (json.dumps(hook_with({"type": "api_key", "header": "X-Key", "secrett": SECRET})), None),
        (json.dumps(hook_with({"type": SECRET, "secret": SECRET})), None),
        (json.dumps(hook_with({"type": "api_key", "header": "X-Key", "secret": SECRET}, methods=[SECRET])), None),
        (json.dumps(hook_with({"type": "api_key", "header": "X-Key", "secret": SECRET}, webhook_path=SECRET)), None),
        (json.dumps(hook_with({"type": "api_key", "header": "X-Key", SECRET: SECRET})), None),
        (json.dumps({**hook_with({"type": "api_key", "header": "X-Key", "secret": SECRET}), SECRET: 1}), None),
        (json.dumps(hook_with({"type": "api_key", "header": "X-Key", "secret": SECRET + "\u0000"})), None),
        (json.dumps(hook_with({"type": "api_key", "header": "X-Key", "secret": SECRET})) + "x", None),
    ],
)
def test_no_error_echoes_a_secret_or_the_body(client: ApiClient, body: str, content_type: str | None) -> None:
    status, parsed, text = send(
        client, "deploy", body, content_type=content_type or "application/x-www-form-urlencoded"
    )
    assert_client_error(status, parsed)
    assert SECRET[:16] not in text, text
    assert len(text) < 2_000, text


# -- anything at all ------------------------------------------------------------------------------------------------

ODD_TEXT = st.text(alphabet=st.characters(codec=None, categories=None), max_size=40) | st.sampled_from(
    ["\u0000", "\ud800", "\udfff", "\x7f", "\u2028", "é" * 3, "x" * 300]
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | ODD_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ODD_TEXT, inner, max_size=4),
    max_leaves=20,
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "APPLICATION/JSON",
        "application/problem+json; charset=utf-8",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=b",
        "application/xml",
        "",
        "application/json; charset=utf-16",
    ]
) | st.text(max_size=30)
HYPOTHESIS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def assert_not_a_server_error(status: int, body: Any) -> None:
    assert status < 500, (status, body)
    if status >= 400:
        assert_client_error(status, body)


@HYPOTHESIS
@given(raw=st.binary(max_size=300), content_type=CONTENT_TYPES, route=st.sampled_from(["deploy", "update", "manual"]))
def test_random_bytes_with_random_content_types_are_never_a_5xx(
    client: ApiClient, raw: bytes, content_type: str, route: str
) -> None:
    status, body, _ = send(client, route, raw, content_type=content_type)
    assert_not_a_server_error(status, body)


@HYPOTHESIS
@given(value=JSON_VALUES, where=st.sampled_from(["spec", "node", "parameters", "inputs"]))
def test_random_json_with_odd_strings_is_never_a_5xx(client: ApiClient, value: Any, where: str) -> None:
    node = manual("m")
    if where == "inputs":
        send(client, "deploy", SPEC)
        route, payload = "manual", {"inputs": {"v": value}}
    else:
        route, payload = "deploy", deploy_body(node)
        target = {"spec": payload["workflow_spec"], "node": node, "parameters": node["parameters"]}[where]
        target["extra" if where != "parameters" else "require_confirmation"] = value
    text = json.dumps(payload, ensure_ascii=False)
    status, body, _ = send(client, route, text)
    assert_not_a_server_error(status, body)


@HYPOTHESIS
@given(
    params=st.dictionaries(
        st.sampled_from(["limit", "cursor", "status", "trigger_id"]), ODD_TEXT, min_size=1, max_size=4
    )
)
def test_random_query_parameters_are_never_a_5xx(client: ApiClient, params: dict[str, str]) -> None:
    send(client, "deploy", SPEC)
    status, body, _ = send(client, "events", query=params)
    assert_not_a_server_error(status, body)
