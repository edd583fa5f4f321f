"""Every query on a request path reads a few index entries, whatever the size of the tables (issue 11).

A database of its own holds 100,000 triggers (copies of a workflow the API deployed, so every row has the service's
shape) and 300,000 firings. The request paths run for real (API, webhook and cron functions, the dispatcher's
store calls, reconcile's shard plan and pages) while every statement they send is recorded; each is then
explained with its own parameters. No plan may read a large table sequentially or sort one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from tests.integration.conftest import Stack, moto_stack
from tests.support.api import ApiClient
from tests.support.databases import own_database
from tests.support.events import load_event, with_path, with_token
from tests.support.scale import TEMPLATE_ID, add_firings, clone_id, clone_workflows, settle, template_body
from workflow_scheduler.adapters.firing_store import PostgresFiringStore
from workflow_scheduler.adapters.postgres import Database, Session
from workflow_scheduler.adapters.reconcile_store import PostgresReconcileStore
from workflow_scheduler.domain.firing import FiringStatus, TriggerEvent
from workflow_scheduler.domain.spec import TriggerType
from workflow_scheduler.domain.triggers.cron.reconcile import PageKey
from workflow_scheduler.domain.triggers.cron.schedules import schedule_stem
from workflow_scheduler.domain.triggers.cron.shards import plan_shards
from workflow_scheduler.local.invoke import LocalContext

pytestmark = pytest.mark.integration

WORKFLOWS = 20_000  # 100,000 triggers
FIRINGS_PER_TRIGGER = 3
# One workflow with a long history: reading it must cost what reading a short one does.
BUSY = clone_id(7)
LONG_HISTORY = 2000  # per trigger
GROUP = "scale-plans"
TABLES = ("deployments", "trigger_index", "trigger_events", "trigger_claims")  # and the history's partitions
# Rows: one workflow's triggers or firings, never a table. A partition that holds no more (a month ahead, the
# catch-all one) may be read whole: the planner rightly prefers that to an index.
SMALL = 1000


@dataclass
class Loaded:
    url: str
    stack: Stack
    api: ApiClient
    recorded: list[tuple[str, Any]]

    def statements(self, action: Callable[[], object]) -> list[tuple[str, Any]]:
        """What ``action`` sent to PostgreSQL."""
        self.recorded.clear()
        action()
        return list(self.recorded)


@pytest.fixture(scope="module")
def loaded() -> Iterator[Loaded]:
    recorded: list[tuple[str, Any]] = []
    original = Session.execute

    def recording(self: Session, sql: str, params: Any = None) -> psycopg.Cursor[Any]:
        recorded.append((sql, params))
        return original(self, sql, params)

    with own_database("ws_plans") as url, moto_stack(url) as stack, pytest.MonkeyPatch.context() as patch:
        stack.scheduler(
            GROUP,
            function_arn="arn:aws:lambda:us-east-1:123456789012:function:cron",
            role_arn="arn:aws:iam::123456789012:role/scheduler",
        )
        api = stack.api()
        assert api.call("deploy", TEMPLATE_ID, template_body(TEMPLATE_ID)).status == 200
        started = time.monotonic()
        clone_workflows(url, 0, WORKFLOWS)
        # No claims: no request path reads them (a claim is an insert on its key).
        add_firings(url, FIRINGS_PER_TRIGGER, days=20, claims=False, more={BUSY: LONG_HISTORY})
        settle(url)
        print(f"loaded in {time.monotonic() - started:.1f} s")
        patch.setattr(Session, "execute", recording)
        yield Loaded(url, stack, api, recorded)


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


def problems(url: str, statements: list[tuple[str, Any]]) -> list[str]:
    """Each sequential scan of a large table and each large sort in the plans of these statements."""
    found = []
    with psycopg.connect(url, autocommit=True) as conn:
        rows = dict(conn.execute("SELECT relname, reltuples FROM pg_class WHERE relkind IN ('r', 'p')").fetchall())
        for sql, params in statements:
            if sql.lstrip().split()[0].upper() not in {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH"}:
                continue
            (plan,) = conn.execute(f"EXPLAIN (FORMAT JSON) {sql}", params).fetchone() or (None,)
            for node in plan_nodes(plan[0]["Plan"]):
                relation = node.get("Relation Name", "")
                if node["Node Type"] == "Seq Scan" and relation.startswith(TABLES) and rows[relation] > SMALL:
                    found.append(f"Seq Scan on {relation} ({rows[relation]:.0f} rows): {sql[:120]}")
                if "Sort" in node["Node Type"] and node["Plan Rows"] > SMALL:
                    found.append(f"{node['Node Type']} of ~{node['Plan Rows']} rows: {sql[:120]}")
    return found


def api_call(loaded: Loaded, name: str, workflow_id: str, query: dict[str, str] | None = None) -> None:
    event = load_event("api", name)
    with_path(event, workflow_id)
    if query:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    with_token(event, loaded.api.token("owner-7"))
    result = loaded.api.handler.lambda_handler(event, LocalContext(function_name="api"))
    assert result["statusCode"] in (200, 202), result


def test_the_load_has_the_size_it_claims(loaded: Loaded) -> None:
    with psycopg.connect(loaded.url) as conn:
        triggers, firings = conn.execute(
            "SELECT (SELECT count(*) FROM trigger_index), (SELECT count(*) FROM trigger_events)"
        ).fetchone() or (0, 0)
    assert triggers == (WORKFLOWS + 1) * 5
    assert firings >= WORKFLOWS * 5 * FIRINGS_PER_TRIGGER


def test_api_reads_and_deploys(loaded: Loaded) -> None:
    workflow = BUSY  # owner-7's
    body = template_body("plans-new")
    with_owner = loaded.api
    statements = loaded.statements(
        lambda: (
            api_call(loaded, "status", workflow),
            api_call(loaded, "triggers", workflow),
            api_call(loaded, "events", workflow),
            api_call(loaded, "events", workflow, {"trigger_id": "hook", "status": "dispatched"}),
            with_owner.call("deploy", "plans-new", body, user="owner-7"),
            with_owner.call("update", "plans-new", body, user="owner-7"),
            api_call(loaded, "manual", workflow),
        )
    )
    assert len(statements) > 20
    assert problems(loaded.url, statements) == []


def test_webhook_and_cron_firings(loaded: Loaded) -> None:
    workflow = clone_id(11)
    webhook = loaded.stack.load("webhook")
    cron = loaded.stack.load("cron")

    def fire() -> None:
        event = load_event("webhook", "json")
        event["path"] = f"/webhook/{workflow}"
        assert webhook.lambda_handler(event, LocalContext(function_name="webhook"))["statusCode"] == 202
        scheduled = load_event("cron", "scheduled", workflow_id=workflow, trigger_id="nightly", version=1)
        assert cron.lambda_handler(scheduled, LocalContext(function_name="cron"))["status"] == "queued"

    statements = loaded.statements(fire)
    assert any("webhook_path" in sql for sql, _ in statements)
    assert problems(loaded.url, statements) == []


def test_dispatcher_store_calls(loaded: Loaded) -> None:
    database = Database(loaded.url)
    store = PostgresFiringStore(database)
    event = TriggerEvent(
        execution_id="exec_plans_1",
        workflow_id=clone_id(12),
        trigger_id="hook",
        trigger_type=TriggerType.WEBHOOK,
        version=1,
        data={},
        fired_at=datetime.now(UTC),
    )

    def dispatch() -> None:
        store.payload(event.execution_id)
        store.update(event, FiringStatus.RETRYING, attempts=1, error="engine 503")  # the claim's row is recreated
        store.update(event, FiringStatus.DISPATCHED, attempts=2, latency_ms=40)
        store.mark(event.execution_id, FiringStatus.PARKED, attempts=3, error="unreadable")

    try:
        assert problems(loaded.url, loaded.statements(dispatch)) == []
    finally:
        database.close()


def test_reconcile_reads_its_shards_from_the_stem_index(loaded: Loaded) -> None:
    database = Database(loaded.url)
    try:
        store = PostgresReconcileStore(database)
        planning = loaded.statements(lambda: plan_shards(store, 5000))
        shards = plan_shards(store, 5000)
        shard = shards[len(shards) // 2]
        after = PageKey(schedule_stem(clone_id(5000), "office"), clone_id(5000), "office")
        paging = loaded.statements(lambda: store.trigger_page(shard, after, 200))
        first = store.trigger_page(shards[0], None, 3)
        stems = [schedule_stem(clone_id(n), "nightly") for n in range(0, 20_000, 1000)]
        lookups = loaded.statements(lambda: store.triggers_with_stems(stems))
        found = store.triggers_with_stems(stems)
    finally:
        database.close()
    assert len(shards) >= 8 and all(s.triggers <= 5000 for s in shards)  # 40,000 cron triggers
    assert [key.stem for key, _ in first] == sorted(key.stem for key, _ in first)
    assert {(r.workflow_id, r.trigger_id) for r in found} == {(clone_id(n), "nightly") for n in range(0, 20_000, 1000)}
    assert problems(loaded.url, planning + paging + lookups) == []
    with psycopg.connect(loaded.url) as conn:
        for sql, params in paging + lookups:
            ((plan,),) = conn.execute(f"EXPLAIN (FORMAT JSON) {sql}", params).fetchall()
            assert {n["Index Name"] for n in plan_nodes(plan[0]["Plan"]) if "Index Name" in n} == {
                "idx_trigger_index_cron_stem"
            }
            assert json.dumps(plan).count('"Sort"') == 0
