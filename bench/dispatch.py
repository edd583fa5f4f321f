"""Dispatch concurrency and the local pipeline's throughput, against an engine that takes 100 ms per call.

1. The dispatch function (in-process; PostgreSQL, DynamoDB and SQS on moto's server) given one record, then a batch
   of 10: the records of a batch are delivered concurrently, so the batch should take at most 2x one call, not 10x.
2. The local pipeline, as ``workflow-scheduler dev`` runs it: webhook requests through the webhook function onto the
   dispatch queue, consumed by the local poller and the dispatch function, to the engine. Firings per second from
   the first request to the last receipt at the engine, and each firing's latency from request to receipt.

Usage: `.venv/bin/python bench/dispatch.py [--firings 300] [--latency-ms 100] [--admin-url postgresql://...]`
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# Read by Powertools when the functions' modules are imported.
os.environ.update(POWERTOOLS_TRACE_DISABLED="true", POWERTOOLS_METRICS_DISABLED="true", POWERTOOLS_LOG_LEVEL="WARNING")

from bench.support import fresh_database  # noqa: E402
from tests.support.engine import ACCEPT, Answer, Call, LoopbackEngine  # noqa: E402
from tests.support.events import load_event  # noqa: E402
from workflow_scheduler.adapters.postgres import Database  # noqa: E402
from workflow_scheduler.domain.firing import TriggerEvent  # noqa: E402
from workflow_scheduler.domain.models import TriggerType  # noqa: E402
from workflow_scheduler.local.functions import load_handler_module  # noqa: E402
from workflow_scheduler.local.invoke import LocalContext  # noqa: E402
from workflow_scheduler.local.queue_poller import QueuePoller, sqs_event  # noqa: E402
from workflow_scheduler.wiring import deployment_service  # noqa: E402

ROUNDS = 7  # median of these for the batch timings
WEBHOOK_PATH = "/webhook/wf-bench"


def create_aws_resources() -> tuple[str, str]:
    """The state table and the dispatch queue with its dead-letter queue; the queue's URL and ARN."""
    boto3.client("dynamodb").create_table(
        TableName="bench-state",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    sqs = boto3.client("sqs")
    dlq_url = sqs.create_queue(QueueName="bench-dispatch-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})
    queue_url = sqs.create_queue(QueueName="bench-dispatch", Attributes={"RedrivePolicy": redrive})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return queue_url, arn


def batch_event(size: int, queue_arn: str) -> dict[str, Any]:
    """An SQS event of ``size`` firings never seen before (so none is skipped as a duplicate)."""
    messages: list[Any] = []
    for _ in range(size):
        execution_id = f"exec_{uuid.uuid4()}"
        event = TriggerEvent(
            execution_id=execution_id,
            workflow_id="wf-bench",
            trigger_id="hook",
            trigger_type=TriggerType.WEBHOOK,
            version=1,
            data={"body": {"n": execution_id}},
            fired_at=datetime.now(UTC),
        )
        messages.append(
            {
                "MessageId": str(uuid.uuid4()),
                "ReceiptHandle": str(uuid.uuid4()),
                "Body": event.model_dump_json(),
                "Attributes": {"ApproximateReceiveCount": "1"},
            }
        )
    return sqs_event(messages, queue_arn)


def time_batches(dispatch: Any, queue_arn: str) -> dict[str, float]:
    context = LocalContext(function_name="workflow-scheduler-dispatch")

    def once(size: int) -> float:
        event = batch_event(size, queue_arn)
        started = time.perf_counter()
        result = dispatch.lambda_handler(event, context)
        elapsed = time.perf_counter() - started
        if result["batchItemFailures"]:
            raise SystemExit(f"the dispatch function reported failures: {result}")
        return elapsed

    once(10)  # warm: connections to the database, moto and the engine
    one = statistics.median(once(1) for _ in range(ROUNDS))
    ten = statistics.median(once(10) for _ in range(ROUNDS))
    return {
        "one_record_ms": round(one * 1000, 1),
        "batch_of_10_ms": round(ten * 1000, 1),
        "ratio": round(ten / one, 2),
        "target_ratio_at_most": 2.0,
    }


def time_pipeline(dispatch: Any, webhook: Any, engine: LoopbackEngine, queue_url: str, firings: int) -> dict[str, Any]:
    """Webhook requests one after another (as the local gateway serves them), the poller in the background."""
    lock = threading.Lock()  # the local gateway's invocation lock: one function invocation at a time
    poller = QueuePoller(boto3.client("sqs"), queue_url, dispatch.lambda_handler, lock)
    context = LocalContext(function_name="workflow-scheduler-webhook")
    requested: dict[str, float] = {}
    engine.forget()
    poller.start()
    try:
        for n in range(firings):
            event = load_event("webhook", "json", path=WEBHOOK_PATH, body=json.dumps({"n": n}))
            started = time.monotonic()
            with lock:
                result = webhook.lambda_handler(event, context)
            if result["statusCode"] != 202:
                raise SystemExit(f"webhook: {result['statusCode']} {result['body']}")
            requested[json.loads(result["body"])["execution_id"]] = started
        deadline = time.monotonic() + 60
        while len(engine.accepted()) < firings and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        poller.stop()
    received = {call.execution_id: call.received_at for call, status in engine.calls if status == 202}
    if set(received) != set(requested):
        raise SystemExit(f"{len(set(requested) - set(received))} firings did not reach the engine")
    elapsed = max(received.values()) - min(requested.values())
    latencies = sorted((received[e] - requested[e]) * 1000 for e in requested)
    return {
        "firings": firings,
        "seconds": round(elapsed, 2),
        "firings_per_second": round(firings / elapsed, 1),
        "latency_ms_p50": round(latencies[len(latencies) // 2], 1),
        "latency_ms_p95": round(latencies[int(len(latencies) * 0.95)], 1),
        "duplicates_at_engine": sum(count - 1 for count in engine.accepted().values()),
    }


def slow_engine(latency_ms: int) -> Callable[[Call], Answer]:
    answer = Answer(ACCEPT.status, delay_seconds=latency_ms / 1000)
    return lambda call: answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--firings", type=int, default=300)
    parser.add_argument("--latency-ms", type=int, default=100, help="how long the engine takes per call")
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per AWS call
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    os.environ.update(
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        STATE_TABLE_NAME="bench-state",
    )
    try:
        queue_url, queue_arn = create_aws_resources()
        os.environ["DISPATCH_QUEUE_URL"] = queue_url
        with fresh_database(args.admin_url) as url, LoopbackEngine(slow_engine(args.latency_ms)) as engine:
            os.environ.update(DATABASE_URL=url, WORKFLOW_ENGINE_URL=engine.url)
            hook = {"id": "hook", "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_WEBHOOK", "parameters": {}}
            deployment_service(Database(url)).deploy("wf-bench", "bench", {"nodes": [hook]})
            dispatch, webhook = load_handler_module("dispatch"), load_handler_module("webhook")
            # Only the report on stdout: Powertools prints disabled metrics anyway, every 100 values.
            with contextlib.redirect_stdout(sys.stderr):
                batches = time_batches(dispatch, queue_arn)
                pipeline = time_pipeline(dispatch, webhook, engine, queue_url, args.firings)
    finally:
        moto.stop()
    report = {"engine_latency_ms": args.latency_ms, "dispatch_batch": batches, "local_pipeline": pipeline}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
