"""Nothing accepted is lost (issue 7, part 2), over HTTP on the local system: a webhook body nested deeper than
the limit is refused at the door, one at the limit and one with non-standard JSON reach the engine stub unchanged."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
import requests

from tests.e2e.local_system import LocalSystem
from workflow_scheduler.domain.json_limits import MAX_JSON_DEPTH

pytestmark = pytest.mark.e2e

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def hook(system: LocalSystem) -> tuple[str, str, dict[str, str]]:
    """A deployed webhook: its workflow id, its URL and the owner's headers."""
    workflow_id = f"wf-{uuid.uuid4().hex[:8]}"
    alice = {"Authorization": f"Bearer {system.token('alice')}"}
    node = {"id": "hook", "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_WEBHOOK", "parameters": {}}
    deployed = requests.post(
        f"{system.base_url}/v1/workflows/{workflow_id}/deploy",
        json={"workflow_spec": {"nodes": [node]}},
        headers=alice,
        timeout=10,
    )
    assert deployed.status_code == 200, deployed.text
    return workflow_id, deployed.json()["triggers"][0]["webhook_url"], alice


def delivered(system: LocalSystem, execution_id: str, timeout: float = 15) -> dict[str, Any]:
    """The trigger data the engine stub was given for this execution."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        calls = requests.get(f"{system.base_url}/_local/executions", timeout=10).json()["executions"]
        found = [call for call in calls if call["execution_id"] == execution_id]
        if found:
            return dict(found[0]["trigger"]["data"])
        time.sleep(0.1)
    raise AssertionError(f"{execution_id} never reached the engine stub:\n{system.output()[-3000:]}")


def test_a_body_nested_deeper_than_the_limit_is_422_and_one_at_the_limit_reaches_the_engine(
    system: LocalSystem, hook: tuple[str, str, dict[str, str]]
) -> None:
    workflow_id, url, alice = hook
    for levels in (MAX_JSON_DEPTH + 1, 200, 300, 2000):
        refused = requests.post(url, data=b"[" * levels + b"]" * levels, headers=JSON, timeout=10)
        assert refused.status_code == 422, (levels, refused.text)
        assert refused.json()["error"] == "validation_error" and "deeper than" in refused.json()["message"]

    inner = MAX_JSON_DEPTH - 1  # inside the outer array: exactly the limit
    body = json.dumps([{"level": n} for n in range(3)] + [json.loads("[" * inner + "]" * inner)])
    accepted = requests.post(url, data=body, headers=JSON, timeout=10)
    assert accepted.status_code == 202, accepted.text
    data = delivered(system, accepted.json()["execution_id"])
    assert (data["body"], data["body_encoding"]) == (json.loads(body), "json")

    triggers = requests.get(f"{system.base_url}/v1/workflows/{workflow_id}/triggers", headers=alice, timeout=10)
    [trigger] = triggers.json()["triggers"]
    assert trigger["health"] == "healthy" and trigger["health_reason"], trigger


@pytest.mark.parametrize("body", [b'{"price": NaN}', b'{"limit": -Infinity, "n": 1e999}', b'{"s": "\\udead"}'])
def test_non_standard_json_reaches_the_engine_as_the_exact_text_sent(
    system: LocalSystem, hook: tuple[str, str, dict[str, str]], body: bytes
) -> None:
    accepted = requests.post(hook[1], data=body, headers=JSON, timeout=10)
    assert accepted.status_code == 202, accepted.text
    data = delivered(system, accepted.json()["execution_id"])
    assert (data["body"], data["body_encoding"]) == (body.decode(), "text")
