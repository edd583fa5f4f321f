"""Webhook manners over HTTP on the local system: the Basic challenge, credentials before the method, and
signed timestamps that make a captured call useless once the tolerance has passed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.e2e.local_system import LocalSystem

pytestmark = pytest.mark.e2e

SIGNING_SECRET = "whsec-e2e-7"
PASSWORD = "pw-e2e-3"


@pytest.fixture(scope="module")
def hooks(system: LocalSystem) -> dict[str, str]:
    """One workflow per hook, so that each test stands on its own."""
    found: dict[str, str] = {}
    basic_auth = {"type": "basic", "username": "bot", "secret": PASSWORD}
    signed_auth = {
        "type": "hmac_sha256",
        "header": "X-Signature",
        "secret": SIGNING_SECRET,
        "timestamp_header": "X-Timestamp",
        "timestamp_tolerance_seconds": 60,
    }
    headers = {"Authorization": f"Bearer {system.token('alice')}"}
    for node_id, auth, methods in (("basic", basic_auth, ["POST", "PUT"]), ("signed", signed_auth, ["POST"])):
        workflow_id = f"wf-{uuid.uuid4().hex[:8]}"
        params = {"webhook_path": f"manners-{workflow_id}/{node_id}", "methods": methods, "auth": auth}
        node = {"id": node_id, "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_WEBHOOK", "parameters": params}
        url = f"{system.base_url}/v1/workflows/{workflow_id}/deploy"
        deployed = requests.post(url, json={"workflow_spec": {"nodes": [node]}}, headers=headers, timeout=30)
        if deployed.status_code == 200:
            assert PASSWORD not in deployed.text and SIGNING_SECRET not in deployed.text
            found[node_id] = deployed.json()["triggers"][0]["webhook_url"]
    return found


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def signed(body: bytes, timestamp: int) -> dict[str, str]:
    mac = hmac.new(SIGNING_SECRET.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Timestamp": str(timestamp), "X-Signature": "sha256=" + mac}


def executions(system: LocalSystem, execution_id: str, timeout: float = 10) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        listed = requests.get(f"{system.base_url}/_local/executions", timeout=10).json()["executions"]
        found = [call for call in listed if call["execution_id"] == execution_id]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_basic_auth_without_or_with_wrong_credentials_is_challenged(hooks: dict[str, str]) -> None:
    assert "basic" in hooks, "the basic-auth hook was not deployed"
    url = hooks["basic"]
    challenge = f'Basic realm="{urlsplit(url).path}", charset="UTF-8"'
    for headers in ({}, basic("bot", "wrong"), basic("eve", PASSWORD), {"Authorization": "Basic %%%"}):
        response = requests.post(url, json={"n": 1}, headers=headers, timeout=10)
        assert response.status_code == 401, response.text
        assert response.headers["WWW-Authenticate"] == challenge
        assert response.json()["error"] == "unauthorized" and PASSWORD not in response.text


def test_a_wrong_method_is_401_without_credentials_and_405_with_them(hooks: dict[str, str]) -> None:
    url = hooks["basic"]
    for method in ("GET", "DELETE", "PATCH"):
        refused = requests.request(method, url, headers=basic("bot", "wrong"), timeout=10)
        assert refused.status_code == 401 and "Allow" not in refused.headers, (method, refused.text)
        assert refused.headers["WWW-Authenticate"].startswith("Basic realm=")
        allowed = requests.request(method, url, headers=basic("bot", PASSWORD), timeout=10)
        assert allowed.status_code == 405 and allowed.headers["Allow"] == "POST, PUT", (method, allowed.text)
    accepted = requests.put(url, json={"n": 2}, headers=basic("bot", PASSWORD), timeout=10)
    assert accepted.status_code == 202, accepted.text


def test_a_signed_timestamped_call_reaches_the_engine_and_its_replay_does_not(
    system: LocalSystem, hooks: dict[str, str]
) -> None:
    assert "signed" in hooks, "the signed-timestamp hook was not deployed"
    body = json.dumps({"order": 7}).encode()
    headers = signed(body, int(time.time()))
    response = requests.post(hooks["signed"], data=body, headers=headers, timeout=10)
    assert response.status_code == 202, response.text
    [call] = executions(system, response.json()["execution_id"])
    assert call["trigger"]["data"]["body"] == {"order": 7}
    assert "x-signature" not in call["trigger"]["data"]["headers"]

    stale = signed(body, int(time.time()) - 61)  # a captured call, replayed after the 60 s tolerance
    future = signed(body, int(time.time()) + 120)
    missing = {k: v for k, v in headers.items() if k != "X-Timestamp"}
    moved = {**headers, "X-Timestamp": str(int(headers["X-Timestamp"]) + 1)}  # the signature covers the time
    for refused_headers in (stale, future, missing, moved, {**headers, "X-Timestamp": "yesterday"}):
        refused = requests.post(hooks["signed"], data=body, headers=refused_headers, timeout=10)
        assert refused.status_code == 401, (refused_headers, refused.text)
        assert refused.json()["error"] == "unauthorized" and SIGNING_SECRET not in refused.text
