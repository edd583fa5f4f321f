"""Reconcile at scale (issue 11): peak memory, AWS calls per schedule and time per shard, on moto.

For each size (cron triggers, one schedule each), in a database of its own: the trigger index is the scale
template's copies (tests/support/scale.py: 2 cron triggers a workflow) and EventBridge Scheduler is moto's server in
another process (so that this process's memory is reconcile's alone). Four runs, each shard timed on its own:

1. ``recovery``: the group is empty (lost), every schedule is created;
2. ``steady``: nothing changed;
3. ``drift``: 1% of the schedules changed by hand before it (a quarter each: expression edited, disabled, deleted,
   and as many orphans added), measured with tracemalloc;
4. ``steady_traced``: nothing changed, measured with tracemalloc.

Printed per size: the plan step's time and tracemalloc peak; calls by operation and per schedule; ListSchedules calls
against pages (one page per 100 listed schedules and per name prefix of the plan); GetSchedule calls against what
changed by hand (plus one per split prefix, see decisions.md); each shard's time; tracemalloc's peak of a run and the
process's peak RSS. The summary extrapolates the shard size that fits 5 minutes, on moto and at the deployed rate
limit.

``--sample-shards N`` works only N shards of each run (the largest, the first, one from the middle, the last, then
evenly spaced ones), against a group that holds only those shards' schedules; the plan is still made from the whole
index. A shard lists only its own name prefixes, so the other shards' schedules would change nothing in its calls,
decisions or memory: only moto's own cost, which lists in O(group) per call (AWS does not), and which makes a full
run at 1M infeasible here. Every figure is then the sampled shards': calls per schedule over their schedules.

Usage: ``.venv/bin/python bench/reconcile.py [--sizes 1000,10000,100000] [--shard-size 5000] [--sample-shards 3]``.
100k in full takes about 30 minutes here (moto lists in O(group) per call and creates at ~8 ms); 1M with three
sampled shards about 20 minutes, most of it loading the index.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import resource
import socket
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.update(POWERTOOLS_TRACE_DISABLED="true", POWERTOOLS_METRICS_DISABLED="true", POWERTOOLS_LOG_LEVEL="WARNING")

from bench.support import DEFAULT_ADMIN_URL, fresh_database, on_aws_call  # noqa: E402
from tests.support.scale import TEMPLATE_ID, clone_id, clone_workflows, template_body  # noqa: E402
from workflow_scheduler.adapters.locks_dynamodb import DynamoDBLockManager  # noqa: E402
from workflow_scheduler.adapters.postgres import Database  # noqa: E402
from workflow_scheduler.adapters.reconcile_store import PostgresReconcileStore  # noqa: E402
from workflow_scheduler.adapters.scheduler import EventBridgeSchedules, SchedulerTarget  # noqa: E402
from workflow_scheduler.domain.triggers.cron.reconcile import (  # noqa: E402
    DEFAULT_SHARD_SIZE,
    PageKey,
    Reconciler,
    ReconcileReport,
)
from workflow_scheduler.domain.triggers.cron.registrar import schedule_specs  # noqa: E402
from workflow_scheduler.domain.triggers.cron.schedules import schedule_name, stem_of  # noqa: E402
from workflow_scheduler.domain.triggers.cron.shards import Shard  # noqa: E402
from workflow_scheduler.settings import SchedulerSettings  # noqa: E402
from workflow_scheduler.wiring import deployment_service  # noqa: E402

GROUP = "reconcile-bench"
TABLE = "reconcile-bench-locks"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:workflow-scheduler-cron"
ROLE_ARN = "arn:aws:iam::123456789012:role/workflow-scheduler-scheduler"
LIST_PAGE = 100
SHARD_MINUTES = 5
DEPLOYED_CALLS_PER_SECOND = 50  # infra_cdk/constants.py RECONCILE_CALLS_PER_SECOND
MB = 1024 * 1024
CLONE_CHUNK = 50_000  # workflows per load transaction


class Calls:
    """AWS calls by operation since the last reset (botocore, this process)."""

    counted: collections.Counter[str] = collections.Counter()

    @classmethod
    def record(cls, service: str, operation: str) -> None:
        cls.counted[f"{service}:{operation}"] += 1


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's server in a process of its own: its memory is not counted as reconcile's."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(10)


def run_timed(reconciler: Reconciler, *, traced: bool = False, only: Sequence[int] | None = None) -> dict[str, Any]:
    """A whole run, shard after shard (``only`` those), each timed; calls by operation; tracemalloc's peak when
    ``traced``."""
    Calls.counted.clear()
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    plan = reconciler.plan()
    planned_s = time.perf_counter() - started
    shard_s = {}
    for number in range(plan.shards) if only is None else only:
        begun = time.perf_counter()
        while not reconciler.work(plan.run_id, number):
            pass
        shard_s[number] = time.perf_counter() - begun
    report = reconciler.finish(plan.run_id)
    total_s = time.perf_counter() - started
    peak = None
    if traced:
        peak = tracemalloc.get_traced_memory()[1] / MB
        tracemalloc.stop()
    return {
        "report": report,
        "plan_s": round(planned_s, 2),
        "total_s": round(total_s, 1),
        "slowest_shard_s": round(max(shard_s.values()), 1),
        "shard_s": {number: round(s, 1) for number, s in shard_s.items()},
        "calls": dict(Calls.counted),
        "tracemalloc_peak_mb": None if peak is None else round(peak, 1),
    }


def measure_plan(reconciler: Reconciler, store: PostgresReconcileStore) -> tuple[dict[str, Any], list[Shard]]:
    """The plan step alone (one invocation in AWS): its time and tracemalloc's peak; the shards it made."""
    tracemalloc.start()
    started = time.perf_counter()
    plan = reconciler.plan()
    planned_s = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / MB
    tracemalloc.stop()
    shards = [store.shard(plan.run_id, n)[0] for n in range(plan.shards)]
    reconciler.finish(plan.run_id)
    return {"s": round(planned_s, 2), "tracemalloc_peak_mb": round(peak, 2)}, shards


def sampled(shards: Sequence[Shard], count: int) -> list[int]:
    """The largest shard, the first, one from the middle, the last, then evenly spaced ones: ``count`` shard numbers
    (in that order of preference)."""
    last = len(shards) - 1
    largest = max(range(len(shards)), key=lambda n: shards[n].triggers)
    spaced = [round(i * last / max(1, count - 1)) for i in range(count)]
    return list(dict.fromkeys([largest, 0, len(shards) // 2, last, *spaced]))[:count]


def shard_names(store: PostgresReconcileStore, shard: Shard) -> list[str]:
    """The schedule names of a shard's triggers, read a page at a time from the index as reconcile reads it."""
    names: list[str] = []
    after: PageKey | None = None
    while page := store.trigger_page(shard, after, 1000):
        names.extend(spec.name for _, record in page for spec in schedule_specs(record))
        after = page[-1][0]
    return names


def scheduler_calls(run: dict[str, Any]) -> dict[str, int]:
    return {op.split(":", 1)[1]: n for op, n in run["calls"].items() if op.startswith("scheduler:")}


def summary(run: dict[str, Any], schedules: int, prefixes: int) -> dict[str, Any]:
    report: ReconcileReport = run["report"]
    calls = scheduler_calls(run)
    return {
        **{k: v for k, v in run.items() if k not in ("report", "calls")},
        "counts": {k: v for k, v in report.as_dict().items() if isinstance(v, int) and v and k != "shards"},
        "scheduler_calls": calls,
        "scheduler_calls_per_schedule": {op: round(n / schedules, 4) for op, n in calls.items()},
        "list_pages_at_most": -(-schedules // LIST_PAGE) + prefixes,
    }


def break_by_hand(client: Any, names: list[str], share: float, seed: int) -> dict[str, list[str]]:
    """``share`` of the schedules changed out of band: a quarter each edited, disabled, deleted; as many orphans."""
    rng = random.Random(seed)
    picked = rng.sample(names, max(4, int(len(names) * share)))
    quarter = len(picked) // 4
    changed = {"edited": picked[:quarter], "disabled": picked[quarter : 2 * quarter], "deleted": picked[-quarter:]}
    for kind in ("edited", "disabled"):
        for name in changed[kind]:
            found = client.get_schedule(Name=name, GroupName=GROUP)
            keys = ("Name", "GroupName", "ScheduleExpressionTimezone", "FlexibleTimeWindow", "Target")
            update = {key: found[key] for key in keys}
            update["ScheduleExpression"] = "cron(7 7 * * ? *)" if kind == "edited" else found["ScheduleExpression"]
            update["State"] = "DISABLED" if kind == "disabled" else found["State"]
            client.update_schedule(**update)
    for name in changed["deleted"]:
        client.delete_schedule(Name=name, GroupName=GROUP)
    target = client.get_schedule(Name=picked[quarter], GroupName=GROUP)["Target"]
    # Beside schedules of ours, so that the shards that list those names find them: a trigger has no schedule 9.
    changed["orphans"] = [f"{stem_of(name)}-9" for name in picked[:quarter]]
    for name in changed["orphans"]:
        client.create_schedule(
            Name=name,
            GroupName=GROUP,
            ScheduleExpression="cron(0 0 * * ? *)",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target=target,
        )
    return changed


def load_index(url: str, workflows: int) -> None:
    """The deployed template's copies, ``CLONE_CHUNK`` workflows a transaction (progress on stderr)."""
    for first in range(0, workflows, CLONE_CHUNK):
        clone_workflows(url, first, min(CLONE_CHUNK, workflows - first))
        print(f"loaded {min(first + CLONE_CHUNK, workflows)} of {workflows} workflows", file=sys.stderr, flush=True)


def database_mb(url: str) -> float:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return round(int(row[0] if row else 0) / MB, 1)


def measure(size: int, shard_size: int, admin_url: str, sample_shards: int = 0) -> dict[str, Any]:
    workflows = size // 2 - 1  # and the template: two cron triggers each
    with fresh_database(admin_url) as url:
        db = Database(url)
        settings = SchedulerSettings(
            schedule_group_name=GROUP, cron_function_arn=FUNCTION_ARN, scheduler_role_arn=ROLE_ARN
        )
        deployment_service(db, settings).deploy(TEMPLATE_ID, "bench", template_body(TEMPLATE_ID)["workflow_spec"])
        loading = time.perf_counter()
        load_index(url, workflows)
        load_s = round(time.perf_counter() - loading, 1)
        client = boto3.client("scheduler")
        for page in client.get_paginator("list_schedules").paginate(GroupName=GROUP):  # the template's two
            for schedule in page["Schedules"]:
                client.delete_schedule(Name=schedule["Name"], GroupName=GROUP)
        schedules = EventBridgeSchedules(SchedulerTarget(GROUP, FUNCTION_ARN, ROLE_ARN), client=client)
        store = PostgresReconcileStore(db)
        # No settling time: the bench changes schedules by hand and reconciles at once.
        reconciler = Reconciler(store, schedules, DynamoDBLockManager(TABLE), shard_size=shard_size, settle_seconds=0)

        plan, shards = measure_plan(reconciler, store)
        only = sampled(shards, sample_shards) if sample_shards else None
        worked = [shards[n] for n in only] if only is not None else shards
        if only is None:
            names = [schedule_name(wid, t, 0) for wid in [TEMPLATE_ID] + [clone_id(n) for n in range(workflows)]
                     for t in ("nightly", "office")]  # fmt: skip
        else:
            names = [name for shard in worked for name in shard_names(store, shard)]
        prefixes = sum(len(s.prefixes) for s in worked)
        probes = sum(len(s.probes) for s in worked)

        runs: dict[str, Any] = {}
        runs["recovery"] = summary(run_timed(reconciler, only=only), len(names), prefixes)
        runs["steady"] = summary(run_timed(reconciler, only=only), len(names), prefixes)
        changed = break_by_hand(client, names, 0.01, seed=size)
        runs["drift"] = summary(run_timed(reconciler, traced=True, only=only), len(names), prefixes)
        runs["steady_traced"] = summary(run_timed(reconciler, traced=True, only=only), len(names), prefixes)
        db.close()
        database = database_mb(url)
        client.delete_schedule_group(Name=GROUP)  # and its schedules: the next size starts from an empty group
        client.create_schedule_group(Name=GROUP)
    return {
        "triggers_in_index": size,
        "schedules": len(names),
        "sampled": None
        if only is None
        else {
            "shards": only,
            "note": "only these shards worked; the group held only their schedules (a shard lists only its own "
            "prefixes: the others' schedules would add nothing but moto's O(group) cost per call); calls and "
            "schedules are theirs, the plan is the whole index's",
        },
        "load_s": load_s,
        "database_mb": database,
        "plan": plan,
        "shard_size": shard_size,
        "shards": len(shards),
        "largest_shard": max(s.triggers for s in shards),
        "largest_shard_worked": max(s.triggers for s in worked),
        "prefixes_all_shards": sum(len(s.prefixes) for s in shards),
        "split_prefixes_all_shards": sum(len(s.probes) for s in shards),
        "prefixes": prefixes,
        "split_prefixes": probes,
        "changed_by_hand": {kind: len(found) for kind, found in changed.items()},
        "runs": runs,
        "process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def checks(result: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets for one size."""
    runs, changed = result["runs"], result["changed_by_hand"]
    steady, drift, recovery = runs["steady"], runs["drift"], runs["recovery"]
    gets = drift["scheduler_calls"].get("GetSchedule", 0)
    per_shard = sum(recovery["shard_s"].values()) / result["schedules"]  # seconds per created schedule on moto
    largest = result["largest_shard"]
    return {
        "memory_under_256_mb": max(runs[r]["tracemalloc_peak_mb"] for r in ("drift", "steady_traced")) < 256
        and result["plan"]["tracemalloc_peak_mb"] < 256,
        "list_calls_within_pages": all(
            runs[r]["scheduler_calls"].get("ListSchedules", 0) <= runs[r]["list_pages_at_most"] for r in runs
        ),
        "steady_reads_only_split_prefixes": steady["scheduler_calls"].get("GetSchedule", 0) == result["split_prefixes"],
        "drift_reads_edited_and_split_prefixes": gets == changed["edited"] + result["split_prefixes"],
        "slowest_shard_within_5_minutes": max(runs[r]["slowest_shard_s"] for r in runs) <= SHARD_MINUTES * 60,
        "recovery_shard_size_for_5_minutes_on_moto": int(SHARD_MINUTES * 60 / per_shard) if per_shard else None,
        # On AWS a recovery is bound by the rate limit: one create per schedule at the deployed rate per shard.
        "recovery_shard_size_for_5_minutes_at_rate_limit": SHARD_MINUTES * 60 * DEPLOYED_CALLS_PER_SECOND,
        "largest_shard_recovery_at_rate_limit_s": round(largest / DEPLOYED_CALLS_PER_SECOND),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000", help="cron triggers (one schedule each), comma-separated")
    parser.add_argument("--shard-size", type=int, default=DEFAULT_SHARD_SIZE)
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--sample-shards", type=int, default=0, help="work only this many shards (0: all)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(json.dumps(run_sizes(sizes, args.shard_size, args.admin_url, args.sample_shards), indent=2))


def run_sizes(sizes: list[int], shard_size: int, admin_url: str, sample_shards: int = 0) -> dict[str, Any]:
    """Every size on one moto server (bench/scale.py calls this too)."""
    with moto_server() as endpoint:
        previous = {key: os.environ.get(key) for key in ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION")}
        os.environ.update(AWS_ENDPOINT_URL=endpoint, AWS_DEFAULT_REGION="us-east-1")
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
        try:
            boto3.client("scheduler").create_schedule_group(Name=GROUP)
            boto3.client("dynamodb").create_table(
                TableName=TABLE,
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            on_aws_call(Calls.record)
            results = []
            for size in sizes:
                result = measure(size, shard_size, admin_url, sample_shards)
                result["checks"] = checks(result)
                results.append(result)
                print(json.dumps(result), file=sys.stderr, flush=True)  # progress: a size can take minutes
        finally:
            for key, value in previous.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    return {"sizes": results, "targets": {"memory_mb_under": 256, "shard_minutes_at_most": SHARD_MINUTES}}


if __name__ == "__main__":
    main()
