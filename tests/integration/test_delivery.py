"""Nothing accepted is lost (issue 7, part 2): the API, webhook and dispatch functions in-process against real
PostgreSQL, SQS and DynamoDB in moto, and a real HTTP engine on loopback.

A webhook call or manual run is either refused at the door (4xx) or reaches the engine unchanged; a queue
message the dispatcher cannot read ends ``parked`` with its reason, shown by the events and the trigger's
health, and ``dlq redrive`` replays it; a firing nobody resolves shows as ``stale``.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import boto3
import psycopg
import pytest

from tests.integration.conftest import Stack, queue_depth
from tests.support.api import ApiClient, deploy_body, manual, webhook
from tests.support.engine import ACCEPT, LoopbackEngine
from tests.support.events import load_event
from tests.support.queues import take_bodies
from tests.support.webhooks import call_webhook
from workflow_scheduler import cli
from workflow_scheduler.adapters.firing_store import PostgresFiringStore
from workflow_scheduler.adapters.postgres import Database
from workflow_scheduler.domain.firing import TriggerEvent
from workflow_scheduler.domain.json_limits import MAX_JSON_DEPTH
from workflow_scheduler.domain.models import TriggerType
from workflow_scheduler.local.invoke import LocalContext
from workflow_scheduler.local.queue_poller import QueuePoller

pytestmark = pytest.mark.integration

MAX_ATTEMPTS = 5
WORKFLOW = "wf-deliver"


@dataclass
class System:
    api: ApiClient
    webhook: ModuleType
    poller: QueuePoller
    engine: LoopbackEngine
    queue_url: str
    dlq_url: str
    database_url: str

    def call_webhook(self, body: bytes, content_type: str = "application/json") -> tuple[int, dict[str, Any]]:
        reply = call_webhook(self.webhook, f"/webhook/{WORKFLOW}", {"Content-Type": content_type}, body)
        return reply.status, reply.body

    def depth(self, queue_url: str) -> int:
        return queue_depth(queue_url)

    def drain(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.poller.poll_once() and self.depth(self.queue_url) == 0:
                return
        raise AssertionError(f"the dispatch queue still holds {self.depth(self.queue_url)} messages")

    def take_message(self) -> dict[str, Any]:
        """Take the one message off the dispatch queue (as if the function had not seen it yet)."""
        sqs = boto3.client("sqs")
        [message] = sqs.receive_message(QueueUrl=self.queue_url, MessageAttributeNames=["All"])["Messages"]
        sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return message

    def send(self, queue_url: str, body: str, execution_id: str | None = None) -> None:
        attributes = {"execution_id": {"DataType": "String", "StringValue": execution_id}} if execution_id else {}
        boto3.client("sqs").send_message(QueueUrl=queue_url, MessageBody=body, MessageAttributes=attributes)

    def redrive(self) -> int:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert cli.main(["dlq", "redrive"]) == 0
        return int(json.loads(out.getvalue())["moved"])

    def events(self) -> dict[str, dict[str, Any]]:
        """``GET /v1/workflows/{id}/events``, by execution id."""
        event = load_event("api", "events")
        event["path"] = f"/v1/workflows/{WORKFLOW}/events"
        event["pathParameters"] = {"proxy": f"workflows/{WORKFLOW}/events"}
        event["headers"]["Authorization"] = f"Bearer {self.api.token('alice')}"
        result = self.api.handler.lambda_handler(event, LocalContext(function_name="api"))
        assert result["statusCode"] == 200, result["body"]
        return {e["execution_id"]: e for e in json.loads(result["body"])["events"]}

    def trigger(self, trigger_id: str = "hook") -> dict[str, Any]:
        """The trigger's view in ``GET /v1/workflows/{id}/triggers``."""
        reply = self.api.call("triggers", WORKFLOW)
        assert reply.status == 200, reply.body
        return next(t for t in reply.body["triggers"] if t["trigger_id"] == trigger_id)

    def sql(self, statement: str, *params: Any) -> None:
        with psycopg.connect(self.database_url) as conn:
            conn.execute(statement, params)


@pytest.fixture(scope="module")
def system(stack: Stack) -> Iterator[System]:
    with LoopbackEngine() as engine:
        dlq_url = stack.dead_letter_queue(MAX_ATTEMPTS)
        stack.state_table()
        for name, value in {
            "WORKFLOW_ENGINE_URL": engine.url,
            "DISPATCH_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
            "DISPATCH_BACKOFF_BASE_SECONDS": "0",  # a failed attempt comes back at once: where it ends up is tested
            "DISPATCH_BACKOFF_MAX_SECONDS": "1",
        }.items():
            stack.env.setenv(name, value)
        stack.env.delenv("FIRING_STALE_AFTER_SECONDS", raising=False)  # the default: one hour
        api = stack.api()
        dispatch = stack.load("dispatch")
        poller = QueuePoller(boto3.client("sqs"), stack.queue_url, dispatch.lambda_handler, threading.Lock())
        yield System(api, stack.load("webhook"), poller, engine, stack.queue_url, dlq_url, stack.database_url)


@pytest.fixture
def fresh(system: System, clean_database: str) -> System:
    system.engine.rule = lambda call: ACCEPT
    system.engine.forget()
    for queue_url in (system.queue_url, system.dlq_url):  # what an earlier test left (moto limits purges)
        take_bodies(queue_url)
    deployed = system.api.call("deploy", WORKFLOW, deploy_body(webhook("hook"), manual("run")))
    assert deployed.status == 200, deployed.body
    return system


def nested(levels: int) -> Any:
    value: Any = "leaf"
    for level in range(levels):
        value = [value] if level % 2 else {"k": value}
    return value


def test_a_webhook_body_deeper_than_the_limit_is_refused_and_one_at_the_limit_is_delivered(fresh: System) -> None:
    for levels in (MAX_JSON_DEPTH + 1, 200, 300):
        status, body = fresh.call_webhook(b"[" * levels + b"]" * levels)
        assert status == 422, (levels, body)
        assert body["error"] == "validation_error" and f"deeper than {MAX_JSON_DEPTH} levels" in body["message"]
    assert fresh.depth(fresh.queue_url) == 0 and fresh.events() == {}

    at_limit = nested(MAX_JSON_DEPTH)
    status, body = fresh.call_webhook(json.dumps(at_limit).encode())
    assert status == 202, body
    fresh.drain()
    [(call, answered)] = fresh.engine.calls
    assert answered == 202 and call.body["trigger"]["data"]["body"] == at_limit
    assert fresh.events()[body["execution_id"]]["status"] == "dispatched"


def test_manual_inputs_that_could_not_be_delivered_are_refused(fresh: System) -> None:
    for inputs in ('{"inputs": ' + json.dumps(nested(200)) + "}", '{"inputs": {"x": NaN}}'):
        refused = fresh.api.call("manual", WORKFLOW, inputs)
        assert refused.status == 422, refused.body
    assert fresh.depth(fresh.queue_url) == 0 and fresh.events() == {}


@pytest.mark.parametrize(
    "sent",
    [b'{"price": NaN, "qty": 1}', b'{"limit": Infinity}', b'{"big": 1e999}', b'{"name": "\\ud800 half a pair"}'],
)
def test_non_standard_json_reaches_the_engine_as_its_exact_text(fresh: System, sent: bytes) -> None:
    status, body = fresh.call_webhook(sent)
    assert status == 202, body
    fresh.drain()
    [(call, _)] = fresh.engine.calls
    data = call.body["trigger"]["data"]
    assert (data["body"], data["body_encoding"]) == (sent.decode(), "text")


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_a_large_payload_with_nul_characters_is_stored_and_delivered_byte_for_byte(
    fresh: System, content_type: str
) -> None:
    if content_type == "application/json":
        value = {"rows": ["nul \u0000 here, \u20ac, \U0001f600 \ufffe" + "x" * 1000] * 900}
        sent = json.dumps(value).encode()
    else:
        sent = ("nul \x00 here, \u20ac\n" + "y" * 1000).encode() * 950
    assert 900 * 1024 < len(sent) <= 1024 * 1024
    status, body = fresh.call_webhook(sent, content_type)
    assert status == 202, body
    with psycopg.connect(fresh.database_url) as conn:
        [(stored,)] = conn.execute("SELECT payload_text FROM trigger_events WHERE claimed").fetchall()
    assert json.loads(stored)["body"] == (value if content_type == "application/json" else sent.decode())
    fresh.drain()
    [(call, answered)] = fresh.engine.calls
    assert answered == 202
    delivered = call.body["trigger"]["data"]["body"]
    if content_type == "application/json":
        assert delivered == value
    else:
        assert delivered.encode() == sent
    assert fresh.events()[body["execution_id"]]["status"] == "dispatched"


def test_an_unreadable_message_is_parked_with_its_reason_shown_and_redrive_replays_it(fresh: System) -> None:
    status, body = fresh.call_webhook(b'{"order": 1}')
    assert status == 202
    execution_id = body["execution_id"]
    # What a release that does not know this trigger type would find on the queue.
    message = fresh.take_message()
    unreadable = json.loads(message["Body"]) | {"trigger_type": "carrier-pigeon"}
    fresh.send(fresh.queue_url, json.dumps(unreadable), execution_id)
    fresh.drain()

    assert fresh.engine.calls == []
    event = fresh.events()[execution_id]
    assert (event["status"], event["attempts"]) == ("parked", MAX_ATTEMPTS)
    assert event["error"].startswith("the dispatcher cannot read this firing's message: trigger_type: Input should be")
    assert event["error"].endswith("parked in the dead-letter queue)")
    trigger = fresh.trigger()
    assert trigger["health"] == "failing" and execution_id in trigger["health_reason"]
    assert "cannot read" in trigger["health_reason"]
    assert fresh.depth(fresh.dlq_url) == 1

    # Replayed: read again (each attempt recorded), still unreadable, back in the dead-letter queue, not lost.
    fresh.sql("UPDATE trigger_events SET attempts = 0 WHERE execution_id = %s", execution_id)
    assert fresh.redrive() == 1
    fresh.drain()
    assert fresh.events()[execution_id]["attempts"] == MAX_ATTEMPTS
    assert fresh.depth(fresh.dlq_url) == 1 and fresh.engine.calls == []


def test_a_firing_nobody_resolves_is_stale_and_a_deep_one_parked_before_the_limit_is_delivered_by_redrive(
    fresh: System,
) -> None:
    """The issue's case: a 200-level firing accepted by the old release, its message parked unread, its row queued."""
    event = TriggerEvent(
        execution_id="exec_old-deep",
        workflow_id=WORKFLOW,
        trigger_id="hook",
        trigger_type=TriggerType.WEBHOOK,
        version=1,
        data={"body": nested(200), "body_encoding": "json"},
        fired_at=datetime.now(UTC) - timedelta(hours=3),
    )
    with PostgresFiringStore(Database(fresh.database_url)).claim(event):
        pass
    fresh.sql("UPDATE trigger_events SET updated_at = now() - interval '3 hours'")
    fresh.send(fresh.dlq_url, json.dumps(event.model_dump(mode="json")), event.execution_id)

    trigger = fresh.trigger()
    assert trigger["health"] == "stale", trigger
    assert "exec_old-deep" in trigger["health_reason"] and "still queued" in trigger["health_reason"]
    assert fresh.events()["exec_old-deep"]["status"] == "queued"

    assert fresh.redrive() == 1
    fresh.drain()
    [(call, answered)] = fresh.engine.calls
    assert answered == 202 and call.body["trigger"]["data"]["body"] == nested(200)
    assert fresh.events()["exec_old-deep"]["status"] == "dispatched"
    trigger = fresh.trigger()
    assert (trigger["health"], trigger["health_reason"]) == ("healthy", "its last firing reached the engine")


def test_an_unreadable_message_with_nothing_to_recover_leaves_its_firing_stale(fresh: System) -> None:
    status, body = fresh.call_webhook(b'{"order": 2}')
    assert status == 202
    fresh.take_message()
    fresh.send(fresh.queue_url, "\x7f not a firing at all")
    fresh.drain()
    assert fresh.depth(fresh.dlq_url) == 1 and fresh.engine.calls == []
    assert fresh.trigger()["health"] == "healthy"  # within the retry window: it may still be on its way

    fresh.sql("UPDATE trigger_events SET updated_at = now() - interval '2 hours'")
    trigger = fresh.trigger()
    assert trigger["health"] == "stale" and body["execution_id"] in trigger["health_reason"]
