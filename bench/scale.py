"""Scale (issue 11): the request paths with the trigger index at 1k, 100k and 1M triggers, 10 firings per trigger.

For each size, in a database of its own (``scale_bench``, recreated per size on the admin URL's server, so tests are
not disturbed): a template workflow of 5 triggers (2 webhook, 2 cron, 1 manual) is deployed through
``DeploymentService`` (EventBridge Scheduler on moto's server) and copied up to the size (tests/support/scale.py);
three workflows deployed through the service for this check are compared with three copies, column by column, and
the run stops if any differs (only ids, owners, times and config hashes may). Then 10 firings per trigger with
their claims, and the measurements, each over a random sample of the workflows:

- webhook lookup (a path to its trigger and deployment) and cron lookup (a workflow and trigger id to the same),
  p50/p99 ms, over a sample read twice: the first pass (``cold_``) reads the pages, the second finds them in
  PostgreSQL's buffers, as a server whose memory holds the index does (the main figures and the ratios);
- deploy of a new workflow of the template's shape (its 2 cron triggers make 2 schedules) and its no-op update:
  p50/p99 ms, SQL writes and AWS calls each (targets for the no-op update: 0 and 0);
- the reads of ``GET .../deploy`` (status), ``GET .../triggers`` (status plus each trigger's last firing and
  health) and ``GET .../events`` (a page of 50), p50/p99 ms, cold and warm likewise;
- the database's size, and the largest tables with their indexes.

Then reconcile at ``--reconcile-sizes`` cron triggers (bench/reconcile.py: peak memory, AWS calls per schedule by
operation, time per shard, on moto's server in a process of its own). Ratios are to the first size.

Usage: ``make bench``, or ``.venv/bin/python bench/scale.py [--sizes 1000,100000,1000000] [--samples 2000]
[--reconcile-sizes 1000,10000] [--admin-url postgresql://...]``.
A million triggers take about 10 minutes here, most of it loading the 10 million firings.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import psycopg
from moto.server import ThreadedMotoServer
from psycopg.rows import dict_row

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# Read by Powertools when the shared package's logger is created.
os.environ.update(POWERTOOLS_TRACE_DISABLED="true", POWERTOOLS_METRICS_DISABLED="true", POWERTOOLS_LOG_LEVEL="WARNING")

from bench import reconcile  # noqa: E402
from bench.support import DEFAULT_ADMIN_URL, on_aws_call  # noqa: E402
from tests.support.scale import (  # noqa: E402
    OWNERS,
    TEMPLATE_ID,
    TRIGGERS_PER_WORKFLOW,
    add_firings,
    clone_id,
    clone_workflows,
    settle,
    template_body,
)
from workflow_scheduler.adapters.firing_store import PostgresFiringStore  # noqa: E402
from workflow_scheduler.adapters.migrations import apply_migrations  # noqa: E402
from workflow_scheduler.adapters.postgres import Database  # noqa: E402
from workflow_scheduler.domain.firing import ByTrigger, ByWebhookPath  # noqa: E402
from workflow_scheduler.domain.triggers.cron.reconcile import DEFAULT_SHARD_SIZE  # noqa: E402
from workflow_scheduler.settings import SchedulerSettings  # noqa: E402
from workflow_scheduler.wiring import deployment_service, history  # noqa: E402

DATABASE = "scale_bench"
GROUP = "scale-bench"
OWNER = "bench"
FIRINGS_PER_TRIGGER = 10
HISTORY_DAYS = 20
CHECKED = 3  # workflows deployed through the service to check the copies against
# Differ between any two workflows, copies or not: ids, owners, times; config hashes hash the workflow's own paths.
VOLATILE = {"id", "workflow_id", "deployment_id", "owner", "created_at", "updated_at", "config_hash"}


class AwsCalls:
    count = 0


def count_call(service: str, operation: str) -> None:
    AwsCalls.count += 1


@contextmanager
def bench_database(admin_url: str) -> Iterator[str]:
    """``scale_bench``, created afresh with every migration applied, dropped afterwards."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DATABASE}"')
    url = admin_url.rsplit("/", 1)[0] + f"/{DATABASE}"
    try:
        apply_migrations(url)
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


def timed(call: Callable[[Any], object], items: Sequence[Any]) -> dict[str, float]:
    """p50 and p99 of ``call`` over ``items``, in ms."""
    times = []
    for item in items:
        start = time.perf_counter()
        call(item)
        times.append((time.perf_counter() - start) * 1000)
    return {
        "p50_ms": round(statistics.median(times), 3),
        "p99_ms": round(statistics.quantiles(times, n=100)[98], 3),
        "count": len(times),
    }


def cold_and_warm(call: Callable[[Any], object], items: Sequence[Any]) -> dict[str, float]:
    """Two passes over the same sample: the first reads the pages (``cold_``), the second finds them in PostgreSQL's
    buffers, as on a server whose memory holds the index (the main figures, and the ratios)."""
    cold = timed(call, items)
    return {**timed(call, items), "cold_p50_ms": cold["p50_ms"], "cold_p99_ms": cold["p99_ms"]}


def comparable(row: dict[str, Any], workflow_id: str) -> str:
    kept = {key: value for key, value in row.items() if key not in VOLATILE}
    return json.dumps(kept, sort_keys=True, default=str).replace(workflow_id, "{workflow_id}")


def copies_differ(url: str, pairs: Sequence[tuple[str, str]]) -> list[str]:
    """Where a copy differs from a workflow the service deployed (empty: the same rows, up to ``VOLATILE``)."""
    found = []
    with psycopg.connect(url, row_factory=dict_row) as conn:
        for real, copy in pairs:
            for table, order in (("deployments", "workflow_id"), ("trigger_index", "trigger_id")):
                rows = [
                    [comparable(r, wid) for r in conn.execute(query(table, order), (wid,)).fetchall()]
                    for wid in (real, copy)
                ]
                if rows[0] != rows[1] or not rows[0]:
                    found.append(f"{table}: {copy} differs from {real}: {rows[1]} != {rows[0]}")
    return found


def query(table: str, order: str) -> str:
    return f"SELECT * FROM {table} WHERE workflow_id = %s ORDER BY {order}"


def sizes_on_disk(url: str) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        (database,) = conn.execute("SELECT pg_database_size(current_database())").fetchone() or (0,)
        tables = conn.execute(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c"
            " WHERE c.relname IN ('deployments', 'trigger_index', 'trigger_claims') UNION ALL"
            " SELECT 'trigger_events', sum(pg_total_relation_size(i.inhrelid))::bigint FROM pg_inherits i"
            " WHERE i.inhparent = 'trigger_events'::regclass"
        ).fetchall()
    mb = 1024 * 1024
    return {"database_mb": round(database / mb), "with_indexes_mb": {name: round(size / mb) for name, size in tables}}


def measure_size(
    triggers: int, samples: int, deploys: int, admin_url: str, settings: SchedulerSettings
) -> dict[str, Any]:
    workflows = max(1, triggers // TRIGGERS_PER_WORKFLOW - 1)  # the template is one of them
    with bench_database(admin_url) as url:
        db = Database(url)
        service = deployment_service(db, settings)
        started = time.monotonic()
        service.deploy(TEMPLATE_ID, OWNER, template_body(TEMPLATE_ID)["workflow_spec"])
        clone_workflows(url, 0, workflows)
        checks = [(f"scale-check-{n}", clone_id(n)) for n in range(CHECKED)]
        for real, _ in checks:
            service.deploy(real, OWNER, template_body(real)["workflow_spec"])
        if differences := copies_differ(url, checks):
            raise SystemExit("the copies are not what the service writes:\n" + "\n".join(differences))
        cloned_s = time.monotonic() - started
        add_firings(url, FIRINGS_PER_TRIGGER, HISTORY_DAYS)
        settle(url)
        loaded_s = time.monotonic() - started

        rng = random.Random(7)
        picked = [rng.randrange(workflows) for _ in range(samples)]  # with repeats where there are few
        with psycopg.connect(url) as conn:
            paths = [
                row[0]
                for row in conn.execute(
                    "SELECT webhook_path FROM trigger_index WHERE workflow_id = ANY(%s) AND webhook_path IS NOT NULL",
                    ([clone_id(n) for n in set(picked)],),
                )
            ]
        paths = [rng.choice(paths) for _ in range(samples)]
        store = PostgresFiringStore(db)
        reads = history(db, stale_after=timedelta(hours=1))
        owned = [(clone_id(n), f"owner-{n % OWNERS}") for n in picked]

        def triggers_read(item: tuple[str, str]) -> None:
            _, records = service.status(*item)
            reads.activity(item[0], item[1], records)

        figures: dict[str, Any] = {
            "triggers": (workflows + 1) * TRIGGERS_PER_WORKFLOW,
            "firings": (workflows + 1) * TRIGGERS_PER_WORKFLOW * FIRINGS_PER_TRIGGER,
            "load_s": {"triggers": round(cloned_s, 1), "all": round(loaded_s, 1)},
            **sizes_on_disk(url),
        }
        store.targets(ByWebhookPath(paths[0]))  # warm: the connection
        figures["webhook_lookup"] = cold_and_warm(lambda path: store.targets(ByWebhookPath(path)), paths)
        figures["cron_lookup"] = cold_and_warm(lambda n: store.targets(ByTrigger(clone_id(n), "nightly")), picked)
        figures["status"] = cold_and_warm(lambda item: service.status(*item), owned)
        figures["triggers_read"] = cold_and_warm(triggers_read, owned)
        figures["events_read"] = cold_and_warm(lambda item: reads.page(*item, limit=50), owned)

        new = [f"bench-new-{n}" for n in range(deploys)]
        before = (db.writes, AwsCalls.count)
        figures["deploy"] = timed(lambda wid: service.deploy(wid, OWNER, template_body(wid)["workflow_spec"]), new)
        figures["deploy"].update(
            sql_writes_each=round((db.writes - before[0]) / deploys, 2),
            aws_calls_each=round((AwsCalls.count - before[1]) / deploys, 2),
        )
        before = (db.writes, AwsCalls.count)
        figures["noop_update"] = timed(
            lambda wid: service.deploy(wid, OWNER, template_body(wid)["workflow_spec"], must_exist=True), new
        )
        figures["noop_update"].update(
            sql_writes_each=round((db.writes - before[0]) / deploys, 2),
            aws_calls_each=round((AwsCalls.count - before[1]) / deploys, 2),
        )
        for wid in new:  # their schedules would otherwise stay in moto for the next size
            service.undeploy(wid, OWNER)
        for wid in [TEMPLATE_ID] + [real for real, _ in checks]:
            service.undeploy(wid, OWNER)
        db.close()
    return figures


MEASURED = ("webhook_lookup", "cron_lookup", "deploy", "noop_update", "status", "triggers_read", "events_read")


def ratios(first: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {
            "p50": round(other[name]["p50_ms"] / first[name]["p50_ms"], 2),
            "p99": round(other[name]["p99_ms"] / first[name]["p99_ms"], 2),
        }
        for name in MEASURED
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,100000,1000000", help="trigger counts, comma-separated")
    parser.add_argument("--samples", type=int, default=2000, help="workflows sampled per read measurement")
    parser.add_argument("--deploys", type=int, default=30, help="workflows deployed and updated per size")
    parser.add_argument("--reconcile-sizes", default="1000,10000", help="cron triggers for reconcile; empty: none")
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

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
    settings = SchedulerSettings(
        schedule_group_name=GROUP,
        cron_function_arn="arn:aws:lambda:us-east-1:123456789012:function:workflow-scheduler-cron",
        scheduler_role_arn="arn:aws:iam::123456789012:role/workflow-scheduler-scheduler",
    )
    try:
        boto3.client("scheduler").create_schedule_group(Name=GROUP)
        on_aws_call(count_call)
        results = []
        for size in sizes:
            figures = measure_size(size, args.samples, args.deploys, args.admin_url, settings)
            results.append(figures)
            print(json.dumps(figures), file=sys.stderr, flush=True)  # progress: a size can take minutes
    finally:
        moto.stop()
    reconcile_sizes = [int(size) for size in args.reconcile_sizes.split(",") if size]
    report = {
        "sizes": results,
        "reconcile": reconcile.run_sizes(reconcile_sizes, DEFAULT_SHARD_SIZE, args.admin_url),
        "ratio_to_first_size": {str(r["triggers"]): ratios(results[0], r) for r in results[1:]},
        "targets": {"lookups_p50_at_1m_ratio_at_most": 1.3, "noop_update_sql_writes_and_aws_calls_each": 0},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
