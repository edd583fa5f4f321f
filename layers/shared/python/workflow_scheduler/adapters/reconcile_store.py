"""Reconcile's PostgreSQL side: the cron triggers by schedule name stem, what the service wrote, its runs and shards.

Every trigger read is a short range of ``idx_trigger_index_cron_stem`` (migration 0008), whatever the size of
the index. The stem expression is written out as the index has it, so the planner can match the two.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import psycopg

from workflow_scheduler.adapters.deployment_store import trigger_record
from workflow_scheduler.adapters.postgres import Database, Row
from workflow_scheduler.domain.locks import Lease, StaleFencingToken
from workflow_scheduler.domain.models import TriggerRecord
from workflow_scheduler.domain.triggers.cron.reconcile import (
    LOCK_NAME,
    Checkpoint,
    Counter,
    PageKey,
    Phase,
    Pin,
    RunInfo,
    WrittenSchedule,
)
from workflow_scheduler.domain.triggers.cron.shards import Shard, prefix_end

STEM = 'cron_schedule_stem(workflow_id, trigger_id) COLLATE "C"'
_CRON_RANGE = f"trigger_type = 'cron' AND {STEM} >= %(lo)s AND {STEM} < %(hi)s"
# Built from the fixed expressions above; every value is a bound parameter.
_COUNT = (
    f"SELECT substr({STEM}, %(position)s, 1) AS next, count(*) AS n FROM trigger_index"  # noqa: S608
    f" WHERE {_CRON_RANGE} GROUP BY 1"
)
_ENDS = (
    f"SELECT (SELECT {STEM} FROM trigger_index WHERE {_CRON_RANGE} ORDER BY 1 LIMIT 1) AS first,"  # noqa: S608
    f" (SELECT {STEM} FROM trigger_index WHERE {_CRON_RANGE} ORDER BY 1 DESC LIMIT 1) AS last"
)
_BY_STEMS = f"SELECT * FROM trigger_index WHERE trigger_type = 'cron' AND {STEM} = ANY(%(stems)s)"  # noqa: S608
_PAGE = (
    f"SELECT *, {STEM} AS stem FROM trigger_index WHERE {_CRON_RANGE}"  # noqa: S608
    f" AND ({STEM}, workflow_id, trigger_id) > (%(stem)s, %(workflow_id)s, %(trigger_id)s)"
    f" ORDER BY {STEM}, workflow_id, trigger_id LIMIT %(limit)s"
)
_RECORD = (
    "INSERT INTO cron_schedule_writes"
    " (schedule_name, workflow_id, trigger_id, definition_hash, modified_at, checked_at)"
    " SELECT %(name)s, %(workflow_id)s, %(trigger_id)s, %(hash)s, %(modified_at)s, %(checked_at)s"
    " WHERE EXISTS (SELECT 1 FROM trigger_index WHERE workflow_id = %(workflow_id)s AND trigger_id = %(trigger_id)s)"
    " ON CONFLICT (schedule_name) DO UPDATE SET workflow_id = EXCLUDED.workflow_id, trigger_id = EXCLUDED.trigger_id,"
    " definition_hash = EXCLUDED.definition_hash, modified_at = EXCLUDED.modified_at, checked_at = EXCLUDED.checked_at,"
    " written_from = NULL"
)
# Only the deploy's write that was listed: a newer one (another window) is left for the next run.
_PIN = (
    "UPDATE cron_schedule_writes w SET modified_at = p.modified_at, written_from = NULL, checked_at = %(checked_at)s"
    " FROM unnest(%(names)s::text[], %(froms)s::timestamptz[], %(dates)s::timestamptz[])"
    " AS p(name, written_from, modified_at)"
    " WHERE w.schedule_name = p.name AND w.written_from = p.written_from"
)
_ADD_IN_STEP = "UPDATE reconcile_shards SET in_step = in_step + %s, updated_at = now() WHERE run_id = %s AND shard = %s"
# One statement per counter, from the enum's fixed names.
_COUNT_ONE = {
    counter: f"UPDATE reconcile_shards SET {counter.value} = {counter.value} + 1, updated_at = now()"  # noqa: S608
    " WHERE run_id = %s AND shard = %s"
    for counter in Counter
}
_SUMS = ", ".join(f"coalesce(sum({c.value}), 0)::int AS {c.value}" for c in Counter)
RUNS_KEPT_DAYS = 30


class PostgresReconcileStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- planning (StemCounts)

    def count_by_next_character(self, prefix: str) -> dict[str, int]:
        with self._db.session(transaction=False) as s:
            rows = s.all(_COUNT, {"position": len(prefix) + 1, "lo": prefix, "hi": prefix_end(prefix)})
        return {row["next"]: row["n"] for row in rows}

    def common_prefix(self, prefix: str) -> str:
        with self._db.session(transaction=False) as s:
            row = s.one(_ENDS, {"lo": prefix, "hi": prefix_end(prefix)})
        if row is None or row["first"] is None:
            return prefix
        first, last = str(row["first"]), str(row["last"])
        differs = (i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b)
        return first[: next(differs, min(len(first), len(last)))]

    # -- runs and shards

    def start_run(self, info: RunInfo, shards: Sequence[Shard]) -> None:
        lease = info.lease
        with self._db.session(transaction=True) as s:
            s.execute(
                "DELETE FROM reconcile_runs WHERE started_at < %s - make_interval(days => %s)",
                (info.started_at, RUNS_KEPT_DAYS),
            )
            s.execute(
                "INSERT INTO reconcile_runs (run_id, dry_run, shards, started_at, lock_owner, lock_fence,"
                " lock_expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    info.run_id,
                    info.dry_run,
                    len(shards),
                    info.started_at,
                    lease.owner if lease else None,
                    lease.fencing_token if lease else None,
                    lease.expires_at if lease else None,
                ),
            )
            s.executemany(
                "INSERT INTO reconcile_shards (run_id, shard, prefixes, probes, triggers) VALUES (%s, %s, %s, %s, %s)",
                [
                    (info.run_id, number, list(shard.prefixes), list(shard.probes), shard.triggers)
                    for number, shard in enumerate(shards)
                ],
            )

    def run_info(self, run_id: str) -> RunInfo | None:
        with self._db.session(transaction=False) as s:
            row = s.one("SELECT * FROM reconcile_runs WHERE run_id = %s", (run_id,))
        if row is None:
            return None
        lease = None
        if row["lock_owner"] is not None:
            lease = Lease(LOCK_NAME, row["lock_owner"], row["lock_fence"], row["lock_expires_at"])
        return RunInfo(str(row["run_id"]), row["dry_run"], row["started_at"], row["shards"], lease)

    def shard(self, run_id: str, number: int) -> tuple[Shard, Checkpoint]:
        with self._db.session(transaction=False) as s:
            row = s.one("SELECT * FROM reconcile_shards WHERE run_id = %s AND shard = %s", (run_id, number))
        if row is None:
            raise LookupError(f"reconcile run {run_id} has no shard {number}")
        after = None
        if row["after_stem"] is not None:
            after = PageKey(row["after_stem"], row["after_workflow"], row["after_trigger"])
        return (
            Shard(tuple(row["prefixes"]), tuple(row["probes"]), row["triggers"]),
            Checkpoint(Phase(row["phase"]), row["prefixes_done"], after),
        )

    def save_checkpoint(self, run_id: str, number: int, fence: int, checkpoint: Checkpoint, in_step: int) -> None:
        after = checkpoint.after
        with self._db.session(transaction=False) as s:
            saved = s.execute(
                "UPDATE reconcile_shards SET phase = %s, prefixes_done = %s, after_stem = %s, after_workflow = %s,"
                " after_trigger = %s, in_step = in_step + %s, fence = %s, updated_at = now()"
                " WHERE run_id = %s AND shard = %s AND fence <= %s",
                (
                    checkpoint.phase.value,
                    checkpoint.prefixes_done,
                    after.stem if after else None,
                    after.workflow_id if after else None,
                    after.trigger_id if after else None,
                    in_step,
                    fence,
                    run_id,
                    number,
                    fence,
                ),
            ).rowcount
            if not saved:
                row = s.one("SELECT fence FROM reconcile_shards WHERE run_id = %s AND shard = %s", (run_id, number))
                raise StaleFencingToken(fence, row["fence"] if row else fence)

    def count(self, run_id: str, number: int, counter: Counter) -> None:
        with self._db.session(transaction=False) as s:
            s.execute(_COUNT_ONE[counter], (run_id, number))

    def finish_run(self, run_id: str, status: str) -> dict[str, int]:
        with self._db.session(transaction=True) as s:
            s.execute("UPDATE reconcile_runs SET status = %s, finished_at = now() WHERE run_id = %s", (status, run_id))
            row = s.one(f"SELECT {_SUMS} FROM reconcile_shards WHERE run_id = %s", (run_id,))  # noqa: S608
        return dict(row or {})

    # -- triggers and what was written

    def triggers_with_stems(self, stems: Iterable[str]) -> list[TriggerRecord]:
        with self._db.session(transaction=False) as s:
            rows = s.all(_BY_STEMS, {"stems": list(stems)})
        return [trigger_record(row) for row in rows]

    def trigger_page(self, shard: Shard, after: PageKey | None, limit: int) -> list[tuple[PageKey, TriggerRecord]]:
        start = after or PageKey("", "", "")
        with self._db.session(transaction=False) as s:
            rows = s.all(
                _PAGE,
                {
                    "lo": shard.lo,
                    "hi": shard.hi,
                    "stem": start.stem,
                    "workflow_id": start.workflow_id,
                    "trigger_id": start.trigger_id,
                    "limit": limit,
                },
            )
        return [(PageKey(row["stem"], row["workflow_id"], row["trigger_id"]), trigger_record(row)) for row in rows]

    def written(self, names: Iterable[str]) -> dict[str, WrittenSchedule]:
        with self._db.session(transaction=False) as s:
            rows = s.all("SELECT * FROM cron_schedule_writes WHERE schedule_name = ANY(%s)", (list(names),))
        return {row["schedule_name"]: _written(row) for row in rows}

    def record(
        self, record: TriggerRecord, name: str, written: WrittenSchedule, run_id: str, number: int, counter: Counter
    ) -> None:
        params = {
            "name": name,
            "workflow_id": record.workflow_id,
            "trigger_id": record.trigger_id,
            "hash": written.definition_hash,
            "modified_at": written.modified_at,
            "checked_at": written.checked_at,
        }
        try:
            with self._db.session(transaction=True) as s:
                s.execute(_RECORD, params)
                s.execute(_COUNT_ONE[counter], (run_id, number))
        except psycopg.errors.ForeignKeyViolation:
            self.count(run_id, number, counter)  # the trigger was removed meanwhile: nothing to remember

    def pin(self, run_id: str, number: int, pins: Sequence[Pin], checked_at: datetime) -> None:
        params = {
            "names": [pin.name for pin in pins],
            "froms": [pin.written_from for pin in pins],
            "dates": [pin.last_modified for pin in pins],
            "checked_at": checked_at,
        }
        with self._db.session(transaction=True) as s:
            s.execute(_PIN, params)
            s.execute(_ADD_IN_STEP, (len(pins), run_id, number))


def _written(row: Row) -> WrittenSchedule:
    return WrittenSchedule(row["definition_hash"], row["modified_at"], row["checked_at"], row["written_from"])
