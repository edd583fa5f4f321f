"""Deploy throughput and cost: 1,000 workflows of 3 triggers each through the API function of the local system,
and deploys at the trigger cap (100 cron triggers, 200 EventBridge schedules).

Runs the local system's components in-process (PostgreSQL, Secrets Manager and EventBridge Scheduler on moto's
server, the API function driven with API Gateway events, as the local gateway does) so that it can count what
each call costs: SQL statements and writes per deploy and per no-op update, and AWS API calls (target for a
no-op update: no write, no AWS call). Times are also given as a ratio to a `GET /health` call, and deploys at the
cap as a ratio to a one-cron-trigger deploy, both measured in the same run.

Usage: `.venv/bin/python bench/deploy.py [--workflows 1000] [--at-cap 5]
[--admin-url postgresql://postgres@127.0.0.1:5432/postgres]`
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import jwt
from moto.server import ThreadedMotoServer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.support import fresh_database, on_aws_call  # noqa: E402
from tests.support.events import load_event, with_body, with_path, with_token  # noqa: E402
from workflow_scheduler.local.functions import load_handler_module  # noqa: E402
from workflow_scheduler.local.invoke import LocalContext  # noqa: E402


class AwsCalls:
    """Counts every AWS API call made through botocore in this process."""

    count = 0


def spec(n: int) -> dict[str, Any]:
    return {
        "workflow_spec": {
            "name": f"bench {n}",
            "nodes": [
                {"id": "manual", "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_MANUAL", "parameters": {}},
                {"id": "hook", "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_WEBHOOK", "parameters": {}},
                {
                    "id": "named-hook",
                    "node_type": "TRIGGER_NODE",
                    "subtype": "TRIGGER_WEBHOOK",
                    "parameters": {"webhook_path": f"bench/{n}", "methods": ["POST", "PUT"]},
                },
                {"id": "step", "node_type": "ACTION_NODE", "parameters": {"url": "https://example.com"}},
            ],
        }
    }


CAP = 100  # MAX_TRIGGERS_PER_WORKFLOW's default


def cron_spec(n: int, triggers: int) -> dict[str, Any]:
    """``triggers`` cron triggers; each names both day fields, so each is split into two schedules."""
    nodes = [
        {
            "id": f"cron-{i}",
            "node_type": "TRIGGER_NODE",
            "subtype": "TRIGGER_CRON",
            "parameters": {"cron_expression": f"{i % 60} {n % 24} 1,15 * MON"},
        }
        for i in range(triggers)
    ]
    return {"workflow_spec": {"name": f"cron bench {n}", "nodes": nodes}}


def measure(calls: Callable[[int], None], count: int, database: Any) -> dict[str, float]:
    statements, writes, aws_before = database.statements, database.writes, AwsCalls.count
    start = time.perf_counter()
    for n in range(count):
        calls(n)
    elapsed = time.perf_counter() - start
    return {
        "per_second": round(count / elapsed, 1),
        "ms_each": round(elapsed / count * 1000, 3),
        "sql_statements_each": round((database.statements - statements) / count, 2),
        "sql_writes_each": round((database.writes - writes) / count, 2),
        "aws_calls_each": round((AwsCalls.count - aws_before) / count, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workflows", type=int, default=1000)
    parser.add_argument("--at-cap", type=int, default=5, help="workflows deployed at the trigger cap")
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    moto.start()
    host, port = moto.get_host_and_port()
    key = secrets.token_urlsafe(32)
    os.environ.update(
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="WARNING",
        POWERTOOLS_METRICS_DISABLED="true",
        PUBLIC_BASE_URL="http://127.0.0.1:8003",
    )
    arn = boto3.client("secretsmanager").create_secret(Name="bench-jwt", SecretString=key)["ARN"]
    os.environ["JWT_SECRET_ARN"] = arn
    os.environ["DISPATCH_QUEUE_URL"] = boto3.client("sqs").create_queue(QueueName="bench-dispatch")["QueueUrl"]
    boto3.client("scheduler").create_schedule_group(Name="bench-schedules")
    os.environ.update(
        SCHEDULE_GROUP_NAME="bench-schedules",
        CRON_FUNCTION_ARN="arn:aws:lambda:us-east-1:123456789012:function:bench-cron",
        SCHEDULER_ROLE_ARN="arn:aws:iam::123456789012:role/bench-scheduler",
    )
    try:
        with fresh_database(args.admin_url) as url:
            os.environ["DATABASE_URL"] = url
            api = load_handler_module("api")
            on_aws_call(lambda service, operation: setattr(AwsCalls, "count", AwsCalls.count + 1))
            token = jwt.encode({"sub": "bench", "exp": int(time.time()) + 3600}, key, algorithm="HS256")
            context = LocalContext(function_name="api")

            def call(name: str, n: int | None = None, body: Any = None, expect: int = 200) -> None:
                event = load_event("api", name)
                if n is not None:
                    with_path(event, f"bench-{n}")
                if body is not None:
                    with_body(event, body)
                with_token(event, token)
                result = api.lambda_handler(event, context)
                api.metrics.clear_metrics()  # disabled metrics are never cleared by Powertools itself
                if result["statusCode"] != expect:
                    raise SystemExit(f"{name} {n}: {result['statusCode']} {result['body']}")

            call("health")  # warm: connection, secret cache
            health = measure(lambda n: call("health"), 200, api.database)
            bodies = [spec(n) for n in range(args.workflows)]
            deploys = measure(lambda n: call("deploy", n, bodies[n]), args.workflows, api.database)
            noops = measure(lambda n: call("update", n, bodies[n]), args.workflows, api.database)
            reads = measure(lambda n: call("status", n), args.workflows, api.database)

            first = args.workflows  # workflow numbers not used above
            one = [cron_spec(first + n, 1) for n in range(args.at_cap)]
            capped = [cron_spec(first + args.at_cap + n, CAP) for n in range(args.at_cap)]
            one_cron = measure(lambda n: call("deploy", first + n, one[n]), args.at_cap, api.database)
            at_cap = measure(lambda n: call("deploy", first + args.at_cap + n, capped[n]), args.at_cap, api.database)
            cap_noops = measure(lambda n: call("update", first + args.at_cap + n, capped[n]), args.at_cap, api.database)
    finally:
        moto.stop()

    baseline = health["ms_each"]
    report = {
        "workflows": args.workflows,
        "triggers_each": 3,
        "baseline_health_ms": baseline,
        "deploy": {**deploys, "ratio_to_health": round(deploys["ms_each"] / baseline, 2)},
        "noop_update": {**noops, "ratio_to_health": round(noops["ms_each"] / baseline, 2)},
        "status": {**reads, "ratio_to_health": round(reads["ms_each"] / baseline, 2)},
        "one_cron_trigger_deploy": one_cron,
        "deploy_at_cap": {
            "triggers": CAP,
            "schedules": 2 * CAP,
            **at_cap,
            "ratio_to_one_cron_trigger": round(at_cap["ms_each"] / one_cron["ms_each"], 2),
            "api_gateway_limit_ms": 29_000,
        },
        "noop_update_at_cap": {
            **cap_noops,
            "ratio_to_one_cron_trigger": round(cap_noops["ms_each"] / one_cron["ms_each"], 2),
        },
        "targets": {
            "noop_update_sql_writes_each": 0,
            "noop_update_aws_calls_each": 0,
            "deploy_at_cap_ms_each": "well under 29,000 (API Gateway)",
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
