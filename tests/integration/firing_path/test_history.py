"""Firing history through the api function (GET .../events, the triggers' last firing), on real PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

from tests.integration.firing_path.conftest import System
from tests.support.api import deploy_body, manual, webhook
from tests.support.events import load_event
from workflow_scheduler.local.invoke import LocalContext


def test_history_pages_newest_first_and_triggers_show_their_last_firing(fresh: System) -> None:
    from workflow_scheduler.adapters.firing_store import PostgresFiringStore
    from workflow_scheduler.adapters.postgres import Database
    from workflow_scheduler.domain.firing import FiringStatus, TriggerEvent

    assert fresh.api.call("deploy", "wf-h", deploy_body(manual("run"), webhook("hook"))).status == 200
    started = [fresh.api.call("manual", "wf-h", {"inputs": {"n": n}}).body["execution_id"] for n in range(5)]
    messages = {m["execution_id"]: m for m in fresh.messages()}
    store = PostgresFiringStore(Database(fresh.database_url))
    store.update(
        TriggerEvent.model_validate(messages[started[-1]]), FiringStatus.FAILED, attempts=1, error="engine: 400"
    )

    def events(query: str = "") -> dict[str, Any]:
        event = load_event("api", "events")
        event["path"] = "/v1/workflows/wf-h/events"
        event["pathParameters"] = {"proxy": "workflows/wf-h/events"}
        params = dict(p.split("=", 1) for p in query.split("&") if p)
        event["queryStringParameters"] = params or None
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in params.items()} or None
        event["headers"]["Authorization"] = f"Bearer {fresh.api.token('alice')}"
        result = fresh.api.handler.lambda_handler(event, LocalContext(function_name="api"))
        assert result["statusCode"] == 200, result["body"]
        return json.loads(result["body"])

    first = events("limit=2")
    assert [e["execution_id"] for e in first["events"]] == started[::-1][:2]
    assert first["events"][0]["status"] == "failed" and first["events"][0]["error"] == "engine: 400"
    second = events(f"limit=2&cursor={first['next_cursor']}")
    third = events(f"limit=2&cursor={second['next_cursor']}")
    assert [e["execution_id"] for e in second["events"] + third["events"]] == started[::-1][2:]
    assert third["next_cursor"] is None
    assert [e["execution_id"] for e in events("status=failed")["events"]] == [started[-1]]

    triggers = {t["trigger_id"]: t for t in fresh.api.call("triggers", "wf-h").body["triggers"]}
    assert triggers["run"]["last_status"] == "failed" and triggers["run"]["last_error"] == "engine: 400"
    assert triggers["run"]["health"] == "failing" and triggers["run"]["last_fired_at"]
    assert triggers["hook"]["last_fired_at"] is None and triggers["hook"]["health"] == "healthy"

    assert fresh.api.call("undeploy", "wf-h").status == 200
    assert len(events()["events"]) == 5  # history outlives the deployment
