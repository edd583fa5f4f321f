"""Routing a GitHub event costs its repository's triggers, not all triggers (issue 9): 100,000 GitHub triggers over
10,000 repositories in PostgreSQL; p50 and p99 of routing one event, as a ratio to the bare indexed candidate query
alone (target: p99 at most 2x) and to a scan of all triggers (target: routing at least 500x faster).

- routing (the issue's "query plus filters"): the candidates (``TargetStore.targets(ByGithubEvent)``, the indexed
  query on PostgreSQL), then each candidate's filters in process, as the router judges them.
- the whole route, reported beside it: ``GithubRouter.route`` as the router function runs it: the delivery read back
  and parsed, query and filters, the trigger data, and a firing for each match (the delivery record and the firings
  in memory: their SQL is the same whatever the number of triggers; no App credentials, so no GitHub API call).
- the bare query: the same ``targets(ByGithubEvent)`` call alone.
- the scan: what routing would cost without the index: every GitHub trigger read and its filters applied.
  The scan's SQL alone (a sequential scan, indexes off) is reported beside it.

Each repository has 10 triggers of varied events and filters (branches, tags, paths, actions, authors, bots); the
events are pushes of one commit to a random repository (half to ``main``), so some candidates match and some not.

Usage: `.venv/bin/python bench/github_route.py [--triggers 100000] [--repositories 10000] [--events 2000]
[--scans 5] [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]`
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import io
import json
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# Read by Powertools when the shared package's logger is created.
os.environ.update(POWERTOOLS_TRACE_DISABLED="true", POWERTOOLS_METRICS_DISABLED="true", POWERTOOLS_LOG_LEVEL="WARNING")

from bench.support import DEFAULT_ADMIN_URL, fresh_database  # noqa: E402
from workflow_scheduler.adapters.firing_store import GITHUB_CANDIDATES, PostgresFiringStore  # noqa: E402
from workflow_scheduler.adapters.postgres import Database  # noqa: E402
from workflow_scheduler.domain.firing import (  # noqa: E402
    ByGithubEvent,
    FiringService,
    FiringStatus,
    TriggerEvent,
)
from workflow_scheduler.domain.triggers.github.deliveries import (  # noqa: E402
    Delivery,
    InstallationState,
    RoutingSummary,
)
from workflow_scheduler.domain.triggers.github.filters import GithubFilter, matches  # noqa: E402
from workflow_scheduler.domain.triggers.github.params import GithubParams  # noqa: E402
from workflow_scheduler.domain.triggers.github.registrar import lookup_columns  # noqa: E402
from workflow_scheduler.domain.triggers.github.router import GithubRouter  # noqa: E402

INSTALLATION = 7
OWNERS = frozenset(f"owner-{i}" for i in range(100))  # the workflows' owners, in turn
TARGET_P99_RATIO = 2.0
TARGET_SCAN_RATIO = 500.0
PUSH: dict[str, Any] = json.loads((ROOT / "tests/fixtures/github/push/with-new-branch.payload.json").read_text())
# The 10 triggers of every repository (the repository and installation are added).
TEMPLATES: tuple[dict[str, Any], ...] = (
    {"events": ["push"]},
    {"events": ["push"], "branches": ["main"]},
    {"events": ["push"], "branches": ["release/**", "!release/**-alpha"]},
    {"events": ["push"], "tags": ["v[0-9].[0-9]+.[0-9]+"]},
    {"events": ["push", "pull_request"], "paths": ["src/**", "!src/**/*.md"]},
    {"events": ["push"], "paths_ignore": ["docs/**", "**.md"]},
    {"events": ["push"], "author_filter": "^(octocat|hubot)$", "ignore_bots": True},
    {"events": ["pull_request"], "action_filter": ["opened", "synchronize"], "draft_pr_handling": "ignore"},
    {"events": ["issues", "issue_comment"], "label_filter": ["bug", "urgent"]},
    {"events": ["release"]},
)


def repository(n: int) -> str:
    return f"Org-{n % 997}/repo-{n}"


def populate(url: str, triggers: int, repositories: int) -> None:
    """``triggers`` GitHub triggers (one workflow each), spread evenly over ``repositories``: COPY, then ANALYZE."""
    base = [GithubParams.model_validate({"github_app_installation_id": INSTALLATION, "repository": "o/r", **t})
            for t in TEMPLATES]  # fmt: skip
    deployments, index = io.StringIO(), io.StringIO()
    for i in range(triggers):
        config = base[(i // repositories) % len(base)].model_dump(mode="json")
        config["repository"] = repository(i % repositories)
        lookup = lookup_columns(config)
        workflow_id = f"wf-{i}"
        text = json.dumps(config)
        deployments.write(f"{workflow_id}\t{uuid.uuid4()}\towner-{i % len(OWNERS)}\t{{}}\t1\tdeployed\n")
        events = "{" + ",".join(lookup["github_events"]) + "}"
        index.write(
            f"{workflow_id}\tgh\tgithub\t{_copy_text(text)}\t{hashlib.sha256(text.encode()).hexdigest()}\t1\t"
            f"{lookup['github_repository']}\t{events}\t{lookup['github_installation_id']}\n"
        )
    with psycopg.connect(url, autocommit=True) as conn:
        with conn.cursor().copy(
            "COPY deployments (workflow_id, deployment_id, owner, spec, version, status) FROM STDIN"
        ) as copy_in:
            copy_in.write(deployments.getvalue())
        with conn.cursor().copy(
            "COPY trigger_index (workflow_id, trigger_id, trigger_type, trigger_config, config_hash, version,"
            " github_repository, github_events, github_installation_id) FROM STDIN"
        ) as copy_in:
            copy_in.write(index.getvalue())
        conn.execute("VACUUM ANALYZE deployments")
        conn.execute("VACUUM ANALYZE trigger_index")


def _copy_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


class Ledger:
    """The delivery records in memory: one per event, routed once."""

    def __init__(self) -> None:
        self.deliveries: dict[str, Delivery] = {}

    def delivery(self, delivery_id: str) -> Delivery | None:
        return self.deliveries.get(delivery_id)

    def installation_state(self, installation_id: int) -> InstallationState | None:
        return None

    def linked_owners(self, installation_id: int) -> frozenset[str]:
        return OWNERS  # every owner may use every installation: the bench measures routing, not refusals

    def mark_routed(self, delivery_id: str, summary: RoutingSummary) -> None:
        del self.deliveries[delivery_id]

    def mark_failed(self, delivery_id: str, error: str) -> None:
        raise RuntimeError(error)


class Firings:
    """The firing store and the dispatch queue in memory: counts what fires."""

    def __init__(self) -> None:
        self.fired = 0

    @contextmanager
    def claim(self, event: TriggerEvent, store_payload: bool = False) -> Iterator[bool]:
        yield True

    def record(self, event: TriggerEvent, status: FiringStatus, error: str | None = None) -> None:
        return None

    def send(self, event: TriggerEvent, delay_seconds: int = 0) -> None:
        self.fired += 1


def push(n: int, rng: random.Random) -> Delivery:
    """A push of one commit to ``main`` or another branch of repository ``n``, as recorded by the github function."""
    payload = copy.deepcopy(PUSH)
    payload["installation"] = {"id": INSTALLATION}
    payload["repository"]["full_name"] = repository(n)
    payload["ref"] = rng.choice(["refs/heads/main", "refs/heads/feature/x"])
    payload["commits"][0].update(added=["src/app.py"], modified=["README.md"], removed=[])
    return Delivery(str(uuid.uuid4()), "push", None, repository(n), INSTALLATION, "Codertocat", json.dumps(payload))


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3),
    }


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def run(triggers: int, repositories: int, events: int, scans: int, admin_url: str) -> dict[str, Any]:
    rng = random.Random(9)
    with fresh_database(admin_url) as url:
        started = time.monotonic()
        populate(url, triggers, repositories)
        populated = time.monotonic() - started
        db = Database(url)
        store = PostgresFiringStore(db)
        ledger, firings = Ledger(), Firings()
        router = GithubRouter(ledger, store, FiringService(firings, firings), None)

        measures: dict[str, list[float]] = {"bare": [], "filters": [], "route": []}
        candidates: list[int] = []
        for i in range(events + events // 10):  # the first tenth warms the caches up and is not counted
            delivery = push(rng.randrange(repositories), rng)
            query = ByGithubEvent(delivery.repository or "", delivery.event)
            payload = json.loads(delivery.body or "{}")
            ledger.deliveries[delivery.delivery_id] = delivery
            calls: dict[str, Callable[[], object]] = {
                "bare": partial(_bare, store, query, candidates),
                "filters": partial(_query_and_filters, store, query, payload),
                "route": partial(router.route, delivery.delivery_id),
            }
            names = list(calls)
            rng.shuffle(names)  # none of them always runs on the warmest cache
            for name in names:
                seconds = timed(calls[name])
                if i >= events // 10:
                    measures[name].append(seconds)

        scan, scan_sql = [], []
        sample = push(rng.randrange(repositories), rng)
        payload = json.loads(sample.body or "{}")
        for _ in range(scans):
            scan.append(timed(lambda: _scan(db, sample.event, payload)))
            scan_sql.append(_sequential_scan(url, sample.repository or "", sample.event))
        bare, filters, route = (percentiles(measures[k]) for k in ("bare", "filters", "route"))
        scanned = percentiles(scan)
        p99_ratio = filters["p99_ms"] / bare["p99_ms"]
        scan_ratio = scanned["p50_ms"] / filters["p50_ms"]
        return {
            "triggers": triggers,
            "repositories": repositories,
            "events": events,
            "populate_seconds": round(populated, 1),
            "candidates_per_event": round(statistics.mean(candidates), 1),
            "fired_per_event": round(firings.fired / (events + events // 10), 2),
            "bare_query": bare,
            "query_and_filters": filters,
            "whole_route": route,
            "scan_all_triggers": scanned,
            "scan_sql_only": percentiles(scan_sql),
            "query_and_filters_p99_over_bare_p99": round(p99_ratio, 2),
            "whole_route_p99_over_bare_p99": round(route["p99_ms"] / bare["p99_ms"], 2),
            "scan_p50_over_query_and_filters_p50": round(scan_ratio, 1),
            "scan_p50_over_whole_route_p50": round(scanned["p50_ms"] / route["p50_ms"], 1),
            "targets": {"p99_ratio_at_most": TARGET_P99_RATIO, "scan_ratio_at_least": TARGET_SCAN_RATIO},
            "targets_met": p99_ratio <= TARGET_P99_RATIO and scan_ratio >= TARGET_SCAN_RATIO,
        }


def _bare(store: PostgresFiringStore, query: ByGithubEvent, counts: list[int]) -> None:
    counts.append(len(store.targets(query)))


def _query_and_filters(store: PostgresFiringStore, query: ByGithubEvent, payload: dict[str, Any]) -> int:
    """What the router does to choose (its ``_judge``): the candidates, then each one's filters; how many match."""
    found = store.targets(query)
    return sum(1 for t in found if matches(GithubFilter.from_config(t.trigger.config), query.event, payload).matched)


def _scan(db: Database, event: str, payload: dict[str, Any]) -> int:
    """Routing without the index: every GitHub trigger read, each one's filters applied; how many match."""
    with db.session(transaction=False) as s:
        rows = s.all(
            "SELECT t.*, d.status AS d_status, d.owner AS d_owner FROM trigger_index t"
            " JOIN deployments d USING (workflow_id) WHERE t.trigger_type = 'github'"
        )
    return sum(1 for row in rows if matches(GithubFilter.from_config(row["trigger_config"]), event, payload).matched)


def _sequential_scan(url: str, repository: str, event: str) -> float:
    """The candidate query's own SQL without its indexes (what the planner does without them)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET enable_indexscan = off")
        conn.execute("SET enable_bitmapscan = off")
        started = time.perf_counter()
        conn.execute(GITHUB_CANDIDATES, {"repository": repository.lower(), "event": event}).fetchall()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--triggers", type=int, default=100_000)
    parser.add_argument("--repositories", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--scans", type=int, default=5)
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    args = parser.parse_args()
    print(json.dumps(run(args.triggers, args.repositories, args.events, args.scans, args.admin_url), indent=2))


if __name__ == "__main__":
    main()
