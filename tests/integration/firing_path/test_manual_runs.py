"""Manual runs through the api function, against real PostgreSQL with the dispatch queue in moto."""

from __future__ import annotations

from tests.integration.firing_path.conftest import System
from tests.support.api import deploy_body, manual


def test_manual_run_with_and_without_confirmation(fresh: System) -> None:
    body = deploy_body(manual("run", require_confirmation=True))
    assert fresh.api.call("deploy", "wf-m", body).status == 200

    refused = fresh.api.call("manual", "wf-m", {"inputs": {"a": 1}})
    assert refused.status == 403
    assert refused.body["status"] == "confirmation_required" and refused.body["message"]
    assert fresh.messages() == []

    started = fresh.api.call("manual", "wf-m", {"confirmation": True, "inputs": {"a": 1}})
    assert started.status == 200 and started.body["status"] == "execution_started"
    [message] = fresh.messages()
    assert message["execution_id"] == started.body["execution_id"]
    assert message["trigger_type"] == "manual" and message["version"] == 1
    assert message["data"]["user_id"] == "alice" and message["data"]["inputs"] == {"a": 1}
    assert message["data"]["execution_id"] == started.body["execution_id"]
    assert fresh.events("wf-m") == [(started.body["execution_id"], "queued", True, None)]


def test_manual_run_refusals(fresh: System) -> None:
    assert fresh.api.call("deploy", "wf-m", deploy_body(manual("run"))).status == 200
    assert fresh.api.call("manual", "wf-m", {}, user="mallory").status == 404
    assert fresh.api.call("manual", "wf-none", {}).status == 404
    too_big = fresh.api.call("manual", "wf-m", {"inputs": {"x": "y" * 70_000}})
    assert too_big.status == 413
    assert fresh.api.call("manual", "wf-m", {"inputs": [1]}).status == 422
    fresh.api.call("pause", "wf-m")
    paused = fresh.api.call("manual", "wf-m", {})
    assert paused.status == 409 and paused.body["error"] == "workflow_paused"
    assert fresh.messages() == []
    assert [row[1] for row in fresh.events("wf-m")] == ["refused"]
