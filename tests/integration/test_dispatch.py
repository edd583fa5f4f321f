"""The dispatch function against real PostgreSQL, SQS and DynamoDB in moto, and a real HTTP engine on loopback.

Messages are consumed by the local poller (the event source mapping's behaviour), so visibility timeouts,
receive counts and the dead-letter queue are moto's real queue semantics, in real time. A failed attempt comes back
at once here (no backoff: what is tested is where each firing ends up, not when), one the engine asks to wait for
(``Retry-After``) after at most 1 s.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import psycopg
import pytest

from tests.integration.conftest import Stack, queue_depth
from tests.support.engine import ACCEPT, Answer, Call, LoopbackEngine
from tests.support.events import load_event
from workflow_scheduler import cli
from workflow_scheduler.adapters.dispatch_queue import SqsDispatchQueue
from workflow_scheduler.adapters.firing_store import PostgresFiringStore
from workflow_scheduler.adapters.postgres import Database
from workflow_scheduler.domain.firing import FiringService, FiringTarget
from workflow_scheduler.domain.models import DeploymentStatus, TriggerRecord, TriggerStatus, TriggerType
from workflow_scheduler.local.invoke import LocalContext
from workflow_scheduler.local.queue_poller import BATCH_SIZE, QueuePoller

pytestmark = pytest.mark.integration

MAX_ATTEMPTS = 5
READ_TIMEOUT = 0.5  # a hung engine costs a record this long
HANG = Answer(503, delay_seconds=READ_TIMEOUT + 0.25)


@dataclass
class Rig:
    engine: LoopbackEngine
    dispatch: ModuleType
    poller: QueuePoller
    firing: FiringService
    queue_url: str
    dlq_url: str
    database_url: str

    def fire(self, workflow_id: str, key: str, data: dict[str, Any] | None = None) -> str:
        record = TriggerRecord(workflow_id, "hook", TriggerType.WEBHOOK, {}, "hash", 1, TriggerStatus.ACTIVE)
        target = FiringTarget(DeploymentStatus.DEPLOYED, "alice", record)
        return self.firing.fire(target, key, data if data is not None else {"body": {"key": key}}).execution_id

    def depth(self, queue_url: str) -> int:
        return queue_depth(queue_url)

    def drain(self, timeout: float = 120) -> int:  # returns as soon as the queue is empty; generous for slow CI
        """Run the poller until the dispatch queue is empty; how many batches the function handled."""
        batches, deadline = 0, time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.poller.poll_once():
                batches += 1
            elif self.depth(self.queue_url) == 0:
                return batches
        raise AssertionError(f"the dispatch queue still holds {self.depth(self.queue_url)} messages")

    def dead_letters(self) -> set[str]:
        """The execution ids parked in the dead-letter queue (left there, visible)."""
        sqs, found, handles = boto3.client("sqs"), set(), []
        while batch := sqs.receive_message(QueueUrl=self.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=30).get(
            "Messages", []
        ):
            found.update(json.loads(m["Body"])["execution_id"] for m in batch)
            handles.extend(m["ReceiptHandle"] for m in batch)
        for handle in handles:
            sqs.change_message_visibility(QueueUrl=self.dlq_url, ReceiptHandle=handle, VisibilityTimeout=0)
        return found

    def rows(self) -> dict[str, dict[str, Any]]:
        with psycopg.connect(self.database_url) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            cur.execute("SELECT * FROM trigger_events WHERE claimed")
            return {row["execution_id"]: row for row in cur.fetchall()}


@pytest.fixture(scope="module")
def rig(stack: Stack) -> Iterator[Rig]:
    with LoopbackEngine() as engine:
        sqs, queue_url, database_url = boto3.client("sqs"), stack.queue_url, stack.database_url
        dlq_url = stack.dead_letter_queue(MAX_ATTEMPTS)
        stack.state_table()
        for name, value in {
            "WORKFLOW_ENGINE_URL": engine.url,
            "ENGINE_CONNECT_TIMEOUT_SECONDS": "1",
            "ENGINE_READ_TIMEOUT_SECONDS": str(READ_TIMEOUT),
            "DISPATCH_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
            "DISPATCH_BACKOFF_BASE_SECONDS": "0",  # the waiting itself is covered in tests/unit/test_dispatch.py
            "DISPATCH_BACKOFF_MAX_SECONDS": "1",
        }.items():
            stack.env.setenv(name, value)
        dispatch = stack.load("dispatch")
        poller = QueuePoller(sqs, queue_url, dispatch.lambda_handler, threading.Lock())
        firing = FiringService(PostgresFiringStore(Database(database_url)), SqsDispatchQueue(queue_url, sqs))
        yield Rig(engine, dispatch, poller, firing, queue_url, dlq_url, database_url)


@pytest.fixture
def fresh(rig: Rig, clean_database: str) -> Rig:
    rig.engine.rule = lambda call: ACCEPT
    rig.engine.forget()
    return rig


def test_a_firing_reaches_the_engine_by_the_contract(fresh: Rig) -> None:
    execution_id = fresh.fire("wf-one", "k-1", {"body": {"order": 42}, "method": "POST"})
    assert fresh.drain() == 1

    [(call, status)] = fresh.engine.calls
    assert (call.workflow_id, call.idempotency_key, status) == ("wf-one", execution_id, 202)
    assert call.body["execution_id"] == execution_id and call.body["workflow_id"] == "wf-one"
    assert call.body["trigger"] == {
        "type": "webhook",
        "trigger_id": "hook",
        "data": {"body": {"order": 42}, "method": "POST"},
    }
    assert call.body["triggered_at"]
    row = fresh.rows()[execution_id]
    assert (row["status"], row["attempts"], row["error"]) == ("dispatched", 1, None)
    assert row["latency_ms"] is not None and row["dispatched_at"] is not None
    assert row["detail"]["status_code"] == 202
    assert row["detail"]["response"] == {"execution_id": execution_id, "status": "accepted"}
    assert fresh.depth(fresh.dlq_url) == 0


def test_the_sample_event_is_dispatched(fresh: Rig) -> None:
    event = load_event("dispatch", "batch")
    result = fresh.dispatch.lambda_handler(event, LocalContext(function_name="workflow-scheduler-dispatch"))
    assert result == {"batchItemFailures": []}
    sent = {json.loads(record["body"])["execution_id"] for record in event["Records"]}
    assert set(fresh.engine.accepted()) == sent
    assert {row["status"] for row in fresh.rows().values()} == {"dispatched"}


def test_a_message_delivered_twice_calls_the_engine_once(fresh: Rig) -> None:
    execution_id = fresh.fire("wf-twice", "k-1")
    sqs = boto3.client("sqs")
    [message] = sqs.receive_message(QueueUrl=fresh.queue_url, VisibilityTimeout=0, MessageAttributeNames=["All"])[
        "Messages"
    ]
    fresh.drain()
    # The row's update was lost (e.g. the function died after the engine call): the copy must repair it.
    with psycopg.connect(fresh.database_url) as conn:
        conn.execute("UPDATE trigger_events SET status = 'queued' WHERE execution_id = %s", (execution_id,))
    sqs.send_message(
        QueueUrl=fresh.queue_url, MessageBody=message["Body"], MessageAttributes=message["MessageAttributes"]
    )
    fresh.drain()

    assert fresh.engine.accepted() == {execution_id: 1}
    assert len(fresh.engine.calls) == 1
    assert fresh.rows()[execution_id]["status"] == "dispatched"


def test_a_permanent_refusal_fails_the_firing_without_retry(fresh: Rig) -> None:
    refusals = {
        "wf-unknown": Answer(404, {"error": "not_found", "message": "no workflow wf-unknown"}),
        "wf-invalid": Answer(422, {"detail": "bad"} | {"message": "x" * 5000}),
    }
    fresh.engine.rule = lambda call: refusals[call.workflow_id]
    unknown, invalid = fresh.fire("wf-unknown", "k-1"), fresh.fire("wf-invalid", "k-1")
    fresh.drain()

    assert len(fresh.engine.calls) == 2
    rows = fresh.rows()
    assert (rows[unknown]["status"], rows[unknown]["attempts"]) == ("failed", 1)
    assert rows[unknown]["error"] == "the engine answered 404: no workflow wf-unknown"
    assert rows[invalid]["status"] == "failed" and rows[invalid]["error"].startswith("the engine answered 422: xxx")
    assert len(rows[invalid]["error"]) < 1100  # the engine's message is truncated
    assert fresh.depth(fresh.dlq_url) == 0


def test_transient_failures_are_retried_until_the_engine_accepts(fresh: Rig) -> None:
    answers = iter([Answer(429, {"message": "slow down"}, {"Retry-After": "1"}), Answer(503), HANG, ACCEPT])
    fresh.engine.rule = lambda call: next(answers)
    execution_id = fresh.fire("wf-flaky", "k-1")

    assert fresh.poller.poll_once() == 1
    row = fresh.rows()[execution_id]
    assert (row["status"], row["attempts"]) == ("retrying", 1)
    assert row["error"] == "the engine answered 429: slow down"
    assert fresh.depth(fresh.queue_url) == 1  # still on the queue, invisible until its retry
    fresh.drain()

    assert [status for _, status in fresh.engine.calls] == [429, 503, 503, 202]
    assert {call.idempotency_key for call, _ in fresh.engine.calls} == {execution_id}
    row = fresh.rows()[execution_id]
    assert (row["status"], row["attempts"], row["error"]) == ("dispatched", 4, None)


def test_data_too_large_for_a_message_is_loaded_from_the_store(fresh: Rig) -> None:
    big = {"body": "x" * (1024 * 1024)}
    execution_id = fresh.fire("wf-big", "k-1", big)
    fresh.drain()
    [(call, status)] = fresh.engine.calls
    assert status == 202 and call.body["trigger"]["data"] == big
    assert fresh.rows()[execution_id]["status"] == "dispatched"


def assert_one_execution_each(fresh: Rig, accepted: Counter[str], rows: dict[str, dict[str, Any]]) -> None:
    """Every accepted firing is one execution at the engine.

    A 2xx whose answer the dispatcher did not get in time (its read timeout or a dropped connection, which a loaded
    machine produces now and then) is delivered again with the same ``Idempotency-Key``, which the engine honours
    (docs/architecture.md): still one execution. So a firing answered 2xx more than once must have every call under its
    own execution id as the key, and the dispatcher must have seen the earlier call fail (more than one attempt).
    """
    for execution_id, count in accepted.items():
        if count == 1:
            continue
        keys = {call.idempotency_key for call, _ in fresh.engine.calls_for(execution_id)}
        assert keys == {execution_id}, f"{execution_id} reached the engine under keys {keys}"
        assert rows[execution_id]["attempts"] >= count, f"{execution_id} was delivered again after a 2xx it saw"


def test_fault_injection_every_firing_reaches_the_engine_once_or_is_parked(fresh: Rig) -> None:
    """500 firings while the engine fails 30% of calls (503 or hung) and one workflow's calls always; then the
    engine recovers and the parked firings are redriven."""
    chance = random.Random(20261129)  # a fixed seed: the same run every time
    lock = threading.Lock()
    outage = threading.Event()
    outage.set()

    def rule(call: Call) -> Answer:
        if not outage.is_set():
            return ACCEPT
        if call.workflow_id == "wf-broken":
            return Answer(503, {"message": "broken"})
        with lock:
            roll = chance.random()
        return HANG if roll < 0.02 else Answer(503) if roll < 0.30 else ACCEPT

    fresh.engine.rule = rule
    started = time.monotonic()
    fired: set[str] = set()
    batches = 0
    # Fired in waves, each consumed until a batch comes back short: moto's receive slows down with queue depth.
    for wave in range(0, 500, 20):
        fired |= {fresh.fire("wf-broken" if n % 25 == 0 else "wf-steady", f"n-{n}") for n in range(wave, wave + 20)}
        while (received := fresh.poller.poll_once()) == BATCH_SIZE:
            batches += 1
        batches += received > 0
    assert len(fired) == 500
    batches += fresh.drain()

    accepted, parked, rows = fresh.engine.accepted(), fresh.dead_letters(), fresh.rows()
    assert_one_execution_each(fresh, accepted, rows)
    assert set(accepted) | parked == fired, "every firing reached the engine or is parked"
    assert not set(accepted) & parked
    assert len(fired) == len(accepted) + len(parked)
    broken = {e for e in fired if rows[e]["workflow_id"] == "wf-broken"}
    assert broken <= parked and len(broken) == 20
    assert {e for e, row in rows.items() if row["status"] == "dispatched"} == set(accepted)
    assert {e for e, row in rows.items() if row["status"] == "parked"} == parked
    assert all(rows[e]["attempts"] == MAX_ATTEMPTS for e in parked)
    failed_calls = sum(1 for _, status in fresh.engine.calls if status >= 300)
    first_pass = time.monotonic() - started

    outage.clear()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["dlq", "redrive"]) == 0
    assert json.loads(out.getvalue()) == {"moved": len(parked)}
    fresh.drain()

    accepted, rows = fresh.engine.accepted(), fresh.rows()
    assert set(accepted) == fired
    assert_one_execution_each(fresh, accepted, rows)
    assert {row["status"] for row in rows.values()} == {"dispatched"}
    assert fresh.depth(fresh.dlq_url) == 0
    print(
        json.dumps(
            {
                "fired": len(fired),
                "delivered_first_pass": len(fired) - len(parked),
                "parked": len(parked),
                "failed_engine_calls": failed_calls,
                "batches": batches,
                "first_pass_seconds": round(first_pass, 1),
                "total_seconds": round(time.monotonic() - started, 1),
            }
        )
    )
