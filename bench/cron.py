"""Cron triggers at scale: EventBridge Scheduler calls per deploy, and the spread of jittered firings.

1. Deploys 2,000 workflows of 5 cron triggers each (10,000 triggers; one trigger per workflow is a split expression,
   so 6 schedules per workflow) through the DeploymentService with the cron registrar, against EventBridge Scheduler
   on moto's server and a fresh PostgreSQL database. Counts Scheduler API calls per deploy and per schedule (target
   1), per no-op update (target 0), per update changing one trigger's expression (target 1) and per undeploy (one
   delete per schedule). Times are also given as a ratio to deploying the same workflows with manual triggers
   instead (no AWS call), measured in the same run.
2. For 10,000 triggers sharing ``0 9 * * *`` with ``jitter_seconds=300``: each one's delay, as the cron function
   computes it (``jitter_seconds``) and applies it (the SQS DelaySeconds of the firing), counted in 10-second
   buckets. Target: the largest bucket at most 1.2x the mean per 10 seconds.

Usage: `.venv/bin/python bench/cron.py [--workflows 2000] [--jitter-triggers 10000] [--admin-url postgresql://...]`
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# Read by Powertools when the shared package's logger is created.
os.environ.update(POWERTOOLS_TRACE_DISABLED="true", POWERTOOLS_METRICS_DISABLED="true", POWERTOOLS_LOG_LEVEL="WARNING")

from bench.support import fresh_database, on_aws_call  # noqa: E402
from workflow_scheduler.adapters.postgres import Database  # noqa: E402
from workflow_scheduler.domain.triggers.cron.firing import jitter_seconds  # noqa: E402
from workflow_scheduler.settings import SchedulerSettings  # noqa: E402
from workflow_scheduler.wiring import deployment_service  # noqa: E402

GROUP = "bench-cron"
OWNER = "bench"
# Five triggers per workflow; the fourth names both day fields, which Unix cron ORs: two schedules.
CRON_TRIGGERS = (
    ("daily", "0 9 * * *", "UTC"),
    ("quarter", "*/15 * * * *", "Europe/Berlin"),
    ("weekdays", "30 18 * * MON-FRI", "America/New_York"),
    ("split", "0 12 1,15 * MON", "UTC"),
    ("hourly", "@hourly", "Asia/Tokyo"),
)
SCHEDULES_PER_WORKFLOW = len(CRON_TRIGGERS) + 1
JITTER_SPREAD = 300
BUCKET_SECONDS = 10


class SchedulerCalls:
    """Counts the EventBridge Scheduler API calls made through botocore in this process, by operation."""

    by_operation: collections.Counter[str] = collections.Counter()

    @classmethod
    def total(cls) -> int:
        return sum(cls.by_operation.values())


def count_scheduler_call(service: str, operation: str) -> None:
    if service == "scheduler":
        SchedulerCalls.by_operation[operation] += 1


def cron_spec(n: int, *, daily: str = "0 9 * * *") -> dict[str, Any]:
    nodes = [
        {
            "id": trigger_id,
            "node_type": "TRIGGER_NODE",
            "subtype": "TRIGGER_CRON",
            "parameters": {"cron_expression": daily if trigger_id == "daily" else expression, "timezone": timezone},
        }
        for trigger_id, expression, timezone in CRON_TRIGGERS
    ]
    return {"name": f"bench {n}", "nodes": nodes}


def manual_spec(n: int) -> dict[str, Any]:
    nodes = [
        {"id": trigger_id, "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_MANUAL", "parameters": {}}
        for trigger_id, _, _ in CRON_TRIGGERS
    ]
    return {"name": f"bench {n}", "nodes": nodes}


def measure(call: Callable[[int], object], count: int) -> dict[str, Any]:
    before = SchedulerCalls.by_operation.copy()
    start = time.perf_counter()
    for n in range(count):
        call(n)
    elapsed = time.perf_counter() - start
    operations = SchedulerCalls.by_operation - before
    return {
        "ms_each": round(elapsed / count * 1000, 3),
        "scheduler_calls_each": round(sum(operations.values()) / count, 3),
        "calls_by_operation": dict(sorted(operations.items())),
    }


def schedules_in_group() -> int:
    client = boto3.client("scheduler")
    return sum(len(page["Schedules"]) for page in client.get_paginator("list_schedules").paginate(GroupName=GROUP))


def deploy_figures(workflows: int, admin_url: str) -> dict[str, Any]:
    settings = SchedulerSettings(
        schedule_group_name=GROUP,
        cron_function_arn="arn:aws:lambda:us-east-1:123456789012:function:workflow-scheduler-cron",
        scheduler_role_arn="arn:aws:iam::123456789012:role/workflow-scheduler-scheduler",
        schedules_dlq_arn="arn:aws:sqs:us-east-1:123456789012:workflow-scheduler-schedules-dlq",
    )
    boto3.client("scheduler").create_schedule_group(Name=GROUP)
    with fresh_database(admin_url) as url:
        service = deployment_service(Database(url), settings)
        on_aws_call(count_scheduler_call)
        cron_specs = [cron_spec(n) for n in range(workflows)]
        changed_specs = [cron_spec(n, daily="15 9 * * *") for n in range(workflows)]
        manual_specs = [manual_spec(n) for n in range(workflows)]

        baseline = measure(lambda n: service.deploy(f"manual-{n}", OWNER, manual_specs[n]), workflows)
        deploys = measure(lambda n: service.deploy(f"cron-{n}", OWNER, cron_specs[n]), workflows)
        in_group = schedules_in_group()
        if in_group != workflows * SCHEDULES_PER_WORKFLOW:
            raise SystemExit(f"{in_group} schedules in the group, expected {workflows * SCHEDULES_PER_WORKFLOW}")
        noops = measure(lambda n: service.deploy(f"cron-{n}", OWNER, cron_specs[n], must_exist=True), workflows)
        changes = measure(lambda n: service.deploy(f"cron-{n}", OWNER, changed_specs[n], must_exist=True), workflows)
        undeploys = measure(lambda n: service.undeploy(f"cron-{n}", OWNER), workflows)
        if (left := schedules_in_group()) != 0:
            raise SystemExit(f"{left} schedules left in the group after undeploying everything")

    baseline_ms = baseline["ms_each"]

    def with_ratio(figures: dict[str, Any]) -> dict[str, Any]:
        return {**figures, "ratio_to_manual_deploy": round(figures["ms_each"] / baseline_ms, 2)}

    return {
        "workflows": workflows,
        "cron_triggers": workflows * len(CRON_TRIGGERS),
        "schedules": workflows * SCHEDULES_PER_WORKFLOW,
        "baseline_manual_deploy_ms": baseline_ms,
        "deploy": {
            **with_ratio(deploys),
            "scheduler_calls_per_schedule": round(deploys["scheduler_calls_each"] / SCHEDULES_PER_WORKFLOW, 3),
        },
        "noop_update": with_ratio(noops),
        "update_one_trigger": with_ratio(changes),
        "undeploy": with_ratio(undeploys),
        "targets": {
            "deploy_scheduler_calls_per_schedule": 1,
            "noop_update_scheduler_calls_each": 0,
            "update_one_trigger_scheduler_calls_each": 1,
        },
    }


def jitter_figures(triggers: int) -> dict[str, Any]:
    delays = [jitter_seconds(f"wf-{n:05d}", "daily", JITTER_SPREAD) for n in range(triggers)]
    counts = collections.Counter(delay // BUCKET_SECONDS for delay in delays)
    buckets = [counts.get(b, 0) for b in range(JITTER_SPREAD // BUCKET_SECONDS + 1)]
    # Delays are whole seconds from 0 to 300: 301 values, so the last bucket covers the single second 300.
    mean = triggers * BUCKET_SECONDS / (JITTER_SPREAD + 1)
    full = buckets[: JITTER_SPREAD // BUCKET_SECONDS]
    largest = max(range(len(buckets)), key=lambda b: buckets[b])
    return {
        "triggers": triggers,
        "cron_expression": "0 9 * * *",
        "jitter_seconds": JITTER_SPREAD,
        "min_delay_s": min(delays),
        "max_delay_s": max(delays),
        "mean_delay_s": round(statistics.fmean(delays), 1),
        "bucket_seconds": BUCKET_SECONDS,
        "buckets": buckets,
        "mean_per_bucket": round(mean, 1),
        "largest_bucket": {"from_s": largest * BUCKET_SECONDS, "count": buckets[largest]},
        "smallest_full_bucket": min(full),
        "ratio_largest_to_mean": round(buckets[largest] / mean, 3),
        "target_ratio_at_most": 1.2,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workflows", type=int, default=2000)
    parser.add_argument("--jitter-triggers", type=int, default=10_000)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's one line per AWS call
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    os.environ.update(
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
    )
    started = time.perf_counter()
    try:
        deploys = deploy_figures(args.workflows, args.admin_url)
    finally:
        moto.stop()
    report = {
        "deploys": deploys,
        "jitter": jitter_figures(args.jitter_triggers),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
