"""Tenants stay apart on the local system, over HTTP: bob cannot take alice's webhook secret or workflow id."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

import pytest
import requests

from tests.e2e.local_system import LocalSystem

pytestmark = pytest.mark.e2e

ALICE_KEY = "alice-signing-key-" + uuid.uuid4().hex[:6]


def bearer(system: LocalSystem, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {system.token(user)}"}


def signed_hook(node_id: str, path: str, **auth: str) -> dict[str, Any]:
    params = {"webhook_path": path, "auth": {"type": "hmac_sha256", "header": "X-Signature", **auth}}
    return {"id": node_id, "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_WEBHOOK", "parameters": params}


def deploy(system: LocalSystem, method: str, workflow_id: str, headers: dict[str, str], *nodes: Any) -> Any:
    url = f"{system.base_url}/v1/workflows/{workflow_id}/deploy"
    return requests.request(method, url, json={"workflow_spec": {"nodes": list(nodes)}}, headers=headers, timeout=30)


def test_bob_cannot_steal_alices_managed_secret_nor_her_workflow_id(system: LocalSystem) -> None:
    alice, bob = bearer(system, "alice"), bearer(system, "bob")
    logged_before = len(system.output())  # the system is shared: this test's lines come after
    wf_alice, wf_bob = f"wf-{uuid.uuid4().hex[:8]}", f"wf-{uuid.uuid4().hex[:8]}"
    alice_hook = signed_hook("hook", f"alice/{wf_alice}", secret=ALICE_KEY)
    deployed = deploy(system, "POST", wf_alice, alice, alice_hook)
    assert deployed.status_code == 200, deployed.text
    hook_url = deployed.json()["triggers"][0]["webhook_url"]
    managed = f"workflow-scheduler/triggers/{wf_alice}/hook"  # predictable: that is the point

    def alices_signed_call() -> int:
        body = json.dumps({"order": uuid.uuid4().hex}).encode()
        signature = "sha256=" + hmac.new(ALICE_KEY.encode(), body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Signature": signature}
        return requests.post(hook_url, data=body, headers=headers, timeout=10).status_code

    assert alices_signed_call() == 202

    # Bob names alice's managed secret: refused, exactly like a secret that does not exist.
    stealing = deploy(system, "POST", wf_bob, bob, signed_hook("steal", f"bob/{wf_bob}", secret_ref=managed))
    missing = deploy(system, "POST", wf_bob, bob, signed_hook("steal", f"bob/{wf_bob}", secret_ref=managed + "x"))
    assert stealing.status_code == missing.status_code == 422, stealing.text
    assert stealing.json() == missing.json()
    assert stealing.json()["error"] == "secret_not_allowed"
    assert [(p["node_id"], p["field"]) for p in stealing.json()["problems"]] == [
        ("steal", "parameters.auth.secret_ref")
    ]

    # Bob deploys and undeploys a workflow of his own, and goes after alice's workflow id.
    own = deploy(system, "POST", wf_bob, bob, signed_hook("mine", f"bob/{wf_bob}", secret="bob-key"))
    assert own.status_code == 200, own.text
    assert requests.delete(f"{system.base_url}/v1/workflows/{wf_bob}/deploy", headers=bob, timeout=10).ok
    taken = deploy(system, "POST", wf_alice, bob, signed_hook("hook", f"bob/{wf_alice}", secret="bob-key"))
    assert taken.status_code == 409 and taken.json()["error"] == "workflow_id_conflict"
    assert deploy(system, "PUT", wf_alice, bob, signed_hook("hook", f"bob/{wf_alice}", secret="x")).status_code == 404
    undeploy = requests.delete(f"{system.base_url}/v1/workflows/{wf_alice}/deploy", headers=bob, timeout=10)
    assert undeploy.status_code == 404

    # Alice's correctly signed calls still get through; her secret is untouched.
    assert alices_signed_call() == 202
    assert "secret_unavailable" not in system.output()[logged_before:]

    # After alice undeploys, her id and her history stay hers.
    assert requests.delete(f"{system.base_url}/v1/workflows/{wf_alice}/deploy", headers=alice, timeout=10).ok
    retaken = deploy(system, "POST", wf_alice, bob, signed_hook("hook", f"bob/{wf_alice}", secret="bob-key"))
    assert retaken.status_code == 409
    events_url = f"{system.base_url}/v1/workflows/{wf_alice}/events"
    assert requests.get(events_url, headers=bob, timeout=10).status_code == 404
    history = requests.get(events_url, headers=alice, timeout=10)
    assert history.status_code == 200 and len(history.json()["events"]) == 2
