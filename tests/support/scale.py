"""A trigger index and a firing history at scale, for the plan test and ``bench/scale.py``.

The rows are copies of a template workflow that the real ``DeploymentService`` deployed: each copy is the template's
deployment and trigger rows with the template's id replaced by the copy's (in the spec, the configurations and the
webhook paths), so every row has the shape the service writes. Only the config hashes stay the template's (they
hash the configuration, which here differs by the workflow id alone). Firings are generated per trigger.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from workflow_scheduler.adapters.history_partitions import PostgresHistoryPartitions
from workflow_scheduler.adapters.postgres import Database
from workflow_scheduler.domain.retention import month_start, next_month

TEMPLATE_ID = "scale-template"
_STAGE = "scale_firings_load"
TRIGGERS_PER_WORKFLOW = 5
OWNERS = 1000


def clone_id(n: int) -> str:
    return f"scale-{n:07d}"


def template_nodes(workflow_id: str) -> list[dict[str, Any]]:
    """Two webhook triggers (default and custom path), two cron triggers, a manual one, and an action node."""

    def trigger(node_id: str, subtype: str, **parameters: Any) -> dict[str, Any]:
        return {"id": node_id, "node_type": "TRIGGER_NODE", "subtype": subtype, "parameters": parameters}

    return [
        trigger("hook", "TRIGGER_WEBHOOK"),
        trigger(
            "orders",
            "TRIGGER_WEBHOOK",
            webhook_path=f"{workflow_id}/orders",
            methods=["POST", "PUT"],
        ),
        trigger("nightly", "TRIGGER_CRON", cron_expression="0 2 * * *"),
        trigger("office", "TRIGGER_CRON", cron_expression="*/15 9-17 * * MON-FRI", timezone="Europe/Berlin"),
        trigger("manual", "TRIGGER_MANUAL"),
        {"id": "step", "node_type": "ACTION_NODE", "parameters": {"url": "https://example.com/hook"}},
    ]


def template_body(workflow_id: str) -> dict[str, Any]:
    return {"workflow_spec": {"name": f"scale {workflow_id}", "nodes": template_nodes(workflow_id)}}


def clone_workflows(url: str, first: int, count: int) -> None:
    """Copies ``first`` .. ``first + count - 1`` of the deployed template (ids ``clone_id(n)``), one transaction."""
    params = {"template": TEMPLATE_ID, "first": first, "last": first + count - 1, "owners": OWNERS}
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO deployments (workflow_id, deployment_id, owner, spec, version, status, created_at, updated_at)"
            " SELECT c.id, gen_random_uuid(), 'owner-' || (n %% %(owners)s::int),"
            " replace(d.spec::text, %(template)s, c.id)::jsonb,"
            " d.version, d.status, d.created_at, d.updated_at"
            " FROM deployments d, generate_series(%(first)s::int, %(last)s::int) n,"
            " LATERAL (SELECT 'scale-' || lpad(n::text, 7, '0') AS id) c WHERE d.workflow_id = %(template)s",
            params,
        )
        conn.execute(
            "INSERT INTO trigger_index (workflow_id, trigger_id, trigger_type, trigger_config, config_hash, version,"
            " deployment_status, cron_expression, timezone, webhook_path, email_filter, github_repository,"
            " github_events, github_installation_id, created_at, updated_at)"
            " SELECT c.id, t.trigger_id, t.trigger_type, replace(t.trigger_config::text, %(template)s, c.id)::jsonb,"
            " t.config_hash, t.version, t.deployment_status, t.cron_expression, t.timezone,"
            " replace(t.webhook_path, %(template)s, c.id), t.email_filter, t.github_repository, t.github_events,"
            " t.github_installation_id, t.created_at, t.updated_at"
            " FROM trigger_index t, generate_series(%(first)s::int, %(last)s::int) n,"
            " LATERAL (SELECT 'scale-' || lpad(n::text, 7, '0') AS id) c WHERE t.workflow_id = %(template)s",
            params,
        )


def ensure_months(url: str, days: int, now: datetime | None = None) -> None:
    """The history's month partitions covering the last ``days`` days (a service running for a while has them)."""
    now = now or datetime.now(UTC)
    database = Database(url)
    try:
        store = PostgresHistoryPartitions(database)
        existing = {p.start for p in store.partitions()}
        month = month_start(now - timedelta(days=days))
        while month <= month_start(now):
            if month not in existing:
                store.create(month, next_month(month))
            month = next_month(month)
    finally:
        database.close()


def add_firings(
    url: str,
    per_trigger: int,
    days: int,
    workflow_like: str = "scale-%",
    *,
    claims: bool = True,
    more: Mapping[str, int] | None = None,
) -> None:
    """``per_trigger`` firings of every trigger of the matching workflows over the last ``days`` days: nine in ten
    accepted and dispatched (with their claims, unless ``claims`` is False), one in ten refused, as the firing store
    records them. ``more`` adds, in the same load, that many firings per trigger of the workflows matching each of its
    patterns (a long history for some): one pass over the partitions, where a second call would index them again.

    Loaded as bulk loads are fast: generated into a staging table; then each month's partition is detached, filled
    without its indexes and attached again (which builds them by sorting), and the claims' indexes are dropped and
    built again the same way. Ten million firings take minutes instead of a quarter of an hour.
    """
    ensure_months(url, days + 1)
    database = Database(url)
    try:
        months = [(p.name, p.start, p.end) for p in PostgresHistoryPartitions(database).partitions()]
    finally:
        database.close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE UNLOGGED TABLE {_STAGE} (LIKE trigger_events INCLUDING DEFAULTS)")
        for like, count in [(workflow_like, per_trigger), *(more or {}).items()]:
            _stage_firings(conn, {"n": count, "days": days, "like": like})
        for name, start, end in months:
            _refill_month(conn, name, start, end)
        if claims:
            with _indexes_rebuilt(conn, "trigger_claims"):
                conn.execute(f"INSERT INTO trigger_claims SELECT execution_id, fired_at FROM {_STAGE} WHERE claimed")
        conn.execute(f"DROP TABLE {_STAGE}")


def _stage_firings(conn: psycopg.Connection[Any], params: dict[str, Any]) -> None:
    """The firings of one pattern, into the staging table (one statement: its own transaction id)."""
    conn.execute(
        f"INSERT INTO {_STAGE} (workflow_id, trigger_id, trigger_type, version, execution_id, status, error,"
        " detail, fired_at, updated_at, claimed, attempts, latency_ms, dispatched_at)"
        " SELECT t.workflow_id, t.trigger_id, t.trigger_type, t.version,"
        # Unique across loads too (the transaction id): a claim per execution id. The constants are subqueries,
        # computed once rather than for each of the rows.
        " 'exec_' || md5(t.workflow_id || '/' || t.trigger_id || '/' || j || '/' || (SELECT txid_current()))::uuid,"
        " CASE WHEN j %% 10 = 0 THEN 'refused' ELSE 'dispatched' END,"
        " CASE WHEN j %% 10 = 0 THEN 'the workflow is paused' END,"
        " (SELECT jsonb_build_object('data_keys', jsonb_build_array('body', 'headers', 'method', 'path', 'query'),"
        " 'status_code', 202)), f.at, f.at + interval '80 milliseconds', j %% 10 <> 0, 1, 40 + j, f.at"
        " FROM trigger_index t, generate_series(1, %(n)s::int) j,"
        # Spread over the days by a hash of the row (a lateral random() would be drawn once for all).
        " LATERAL (SELECT now() - interval '1 minute' - %(days)s::int * interval '1 day'"
        " * ((hashtext(t.workflow_id || t.trigger_id || j) & 1048575) / 1048576.0) AS at) f"
        " WHERE t.workflow_id LIKE %(like)s",
        params,
    )


def _refill_month(conn: psycopg.Connection[Any], name: str, start: datetime | None, end: datetime) -> None:
    bounds = [start or datetime.min.replace(tzinfo=UTC), end]
    if not conn.execute(f"SELECT 1 FROM {_STAGE} WHERE fired_at >= %s AND fired_at < %s LIMIT 1", bounds).fetchone():
        return
    partition = sql.Identifier(name)
    conn.execute(sql.SQL("ALTER TABLE trigger_events DETACH PARTITION {}").format(partition))
    with _indexes_rebuilt(conn, name, rebuild=False):  # attaching builds the parent's indexes on it
        query = sql.SQL("INSERT INTO {} SELECT * FROM {} WHERE fired_at >= %s AND fired_at < %s")
        conn.execute(query.format(partition, sql.Identifier(_STAGE)), bounds)
    lower = sql.SQL("MINVALUE") if start is None else sql.Literal(start.isoformat())
    conn.execute(
        sql.SQL("ALTER TABLE trigger_events ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
            partition, lower, sql.Literal(end.isoformat())
        )
    )


@contextmanager
def _indexes_rebuilt(conn: psycopg.Connection[Any], table: str, *, rebuild: bool = True) -> Iterator[None]:
    """The table's indexes (and the constraints they back) dropped while the block loads it, then built again."""
    found = conn.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid), c.conname, pg_get_constraintdef(c.oid)"
        " FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid"
        " WHERE i.indrelid = %s::regclass",
        (table,),
    ).fetchall()
    relation = sql.Identifier(table)
    for index, _, constraint, _ in found:
        if constraint:
            conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(relation, sql.Identifier(constraint)))
        else:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(index)))
    yield
    if not rebuild:
        return
    for _, definition, constraint, constraint_definition in found:
        if constraint:
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(relation, sql.Identifier(constraint))
                + sql.SQL(constraint_definition)
            )
        else:
            conn.execute(sql.SQL(definition))


def settle(url: str) -> None:
    """What autovacuum would have done by then: the planner's statistics and the visibility map."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
