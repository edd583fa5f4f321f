"""Reconcile: make the schedule group match the trigger index (issue 4.6), in bounded shards (issue 11).

Deploys keep the two in step, but a compensation that failed, a schedule deleted or changed by hand, a restored
database or a lost group can leave orphans (schedules no trigger owns), gaps (triggers without their schedules) or
drift. A run deletes orphans, recreates what is missing and repairs what drifted, in three steps:

1. ``plan``: takes the run's lock and splits the cron triggers into shards (``shards.py``), stored with the run.
2. ``work`` on each shard, in parallel in AWS (one invocation each, a Step Functions Distributed Map), under the
   shard's own lock, whose lease is renewed as it goes. It lists the shard's names page by page (``ListSchedules``:
   name, state, target, last modification) and compares each with its trigger and with what the service last wrote
   there, reconcile or a deploy, or read (``WrittenSchedule``): only a schedule changed since, or never seen, is read
   (``GetSchedule``).
   Then it reads the shard's triggers in key pages and creates what the listing did not show. Progress is a
   checkpoint in PostgreSQL, so an attempt that crashed, timed out or ran out of its time budget resumes there.
3. ``finish``: sums the shards' counts and releases the run's lock.

Memory is bounded by the shard, not by the group: a page of listing or triggers at a time, plus the names the
shard's listing matched (at most two per trigger of the shard).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from workflow_scheduler.domain.errors import Conflict, NotFound
from workflow_scheduler.domain.locks import DistributedLockManager, Lease, LockNotAcquired
from workflow_scheduler.domain.models import TriggerRecord
from workflow_scheduler.domain.triggers.cron.registrar import schedule_specs
from workflow_scheduler.domain.triggers.cron.schedules import (
    CLOCK_SKEW,
    ListedSchedule,
    ListingExpired,
    ReadSchedule,
    ScheduleCatalog,
    ScheduleExists,
    ScheduleSpec,
    schedule_stem,
    stem_of,
)
from workflow_scheduler.domain.triggers.cron.shards import Shard, StemCounts, plan_shards

LOCK_NAME = "reconcile-schedules"  # the run's: one run at a time
# The run's lease outlives any run (the state machine's timeout is shorter); finish releases it earlier.
RUN_LEASE_SECONDS = 6 * 3600
SHARD_LEASE_SECONDS = 120  # renewed at each page once half of it is gone
DEFAULT_SHARD_SIZE = 5000
# A schedule or trigger changed this recently may be in a deploy's hands (its calls run before its commit): what
# needs a write is left to the next run rather than raced.
SETTLE_SECONDS = 120
TRIGGER_PAGE = 200
LISTING_RESTARTS = 3

log = logging.getLogger(__name__)


class Phase(StrEnum):
    LISTING = "listing"  # the shard's prefixes: orphans and drift
    MISSING = "missing"  # the shard's triggers: what the listing did not show
    DONE = "done"


class Counter(StrEnum):
    CREATED = "created"
    DELETED = "deleted"
    REPAIRED = "repaired"
    VERIFIED = "verified"  # read because it changed or was never seen, and found in step
    IN_STEP = "in_step"  # in step by the listing and what the service wrote last: no call
    DEFERRED = "deferred"  # changed within SETTLE_SECONDS: left for the next run
    UNREADABLE = "unreadable"  # a trigger whose expression no longer translates: its schedules are kept


@dataclass(frozen=True)
class PageKey:
    """Where a page of the shard's triggers starts: after this one (stem order)."""

    stem: str
    workflow_id: str
    trigger_id: str


@dataclass(frozen=True)
class Checkpoint:
    phase: Phase = Phase.LISTING
    prefixes_done: int = 0  # prefixes of the listing phase whose decisions are made
    after: PageKey | None = None  # the missing phase's position


@dataclass(frozen=True)
class WrittenSchedule:
    """What the service last wrote to a schedule (reconcile or a deploy), or reconcile read and found in step."""

    definition_hash: str
    modified_at: datetime  # its LastModificationDate as of then (after our own write: our clock, a little later)
    checked_at: datetime | None  # when reconcile wrote or read it (our clock); None: a deploy's write, not seen yet
    # A deploy's write whose date is not pinned yet: the schedule's date lies in [written_from, modified_at].
    written_from: datetime | None = None

    def left_as_written(self, last_modified: datetime) -> bool:
        """Whether a schedule last modified at ``last_modified`` (the listing's date) is as this write left it."""
        if self.written_from is None:
            return last_modified <= self.modified_at
        return self.written_from - CLOCK_SKEW <= last_modified <= self.modified_at + CLOCK_SKEW


@dataclass(frozen=True)
class Pin:
    """A deploy's write the listing showed in step: its window gives way to the listed date."""

    name: str
    written_from: datetime  # the write pinned (a newer deploy's write of the name is left alone)
    last_modified: datetime


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    dry_run: bool
    started_at: datetime
    shards: int
    lease: Lease | None


@dataclass(frozen=True)
class RunPlan:
    run_id: str
    shards: int
    dry_run: bool

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "shards": list(range(self.shards)), "dry_run": self.dry_run}


@dataclass
class ReconcileReport:
    run_id: str
    dry_run: bool
    shards: int
    status: str
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, counter: Counter) -> int:
        return self.counts.get(counter.value, 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "dry_run": self.dry_run,
            "shards": self.shards,
            **{counter.value: self.count(counter) for counter in Counter},
        }


class ReconcileRunNotFound(NotFound):
    code = "reconcile_run_not_found"

    def __init__(self, run_id: str) -> None:
        super().__init__(f"no reconcile run {run_id!r}")


class ShardLeaseLost(Conflict):
    code = "shard_lease_lost"

    def __init__(self, name: str) -> None:
        super().__init__(f"the lease on {name!r} ended before the shard did: its next attempt resumes")


class ReconcileStore(StemCounts, Protocol):
    """The trigger index as reconcile reads it, what the service wrote, and its runs' plans and checkpoints."""

    def start_run(self, info: RunInfo, shards: Sequence[Shard]) -> None: ...

    def run_info(self, run_id: str) -> RunInfo | None: ...

    def shard(self, run_id: str, number: int) -> tuple[Shard, Checkpoint]: ...

    def save_checkpoint(self, run_id: str, number: int, fence: int, checkpoint: Checkpoint, in_step: int) -> None:
        """Move the shard to ``checkpoint`` and add ``in_step``; ``StaleFencingToken`` if a newer lease wrote."""

    def count(self, run_id: str, number: int, counter: Counter) -> None: ...

    def finish_run(self, run_id: str, status: str) -> dict[str, int]:
        """Mark the run finished; the sum of its shards' counters."""

    def triggers_with_stems(self, stems: Iterable[str]) -> list[TriggerRecord]: ...

    def trigger_page(self, shard: Shard, after: PageKey | None, limit: int) -> list[tuple[PageKey, TriggerRecord]]:
        """The shard's cron triggers after ``after``, in stem order."""

    def written(self, names: Iterable[str]) -> dict[str, WrittenSchedule]: ...

    def record(
        self, record: TriggerRecord, name: str, written: WrittenSchedule, run_id: str, number: int, counter: Counter
    ) -> None:
        """Remember ``written`` for the trigger's schedule ``name`` and count ``counter``, in one transaction."""

    def pin(self, run_id: str, number: int, pins: Sequence[Pin], checked_at: datetime) -> None:
        """Pin deploys' writes to their listed dates and count them ``in_step``, in one transaction."""


def shard_lock_name(run_id: str, number: int) -> str:
    return f"{LOCK_NAME}-{run_id}-{number}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Reconciler:
    def __init__(
        self,
        store: ReconcileStore,
        schedules: ScheduleCatalog,
        locks: DistributedLockManager,
        *,
        shard_size: int = DEFAULT_SHARD_SIZE,
        settle_seconds: float = SETTLE_SECONDS,
        clock: Callable[[], datetime] = _utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._schedules = schedules
        self._locks = locks
        self._shard_size = shard_size
        self._settle = timedelta(seconds=settle_seconds)
        self._clock = clock
        self._monotonic = monotonic

    def plan(self, *, dry_run: bool = False) -> RunPlan:
        """Take the run's lock (``LockNotAcquired`` while another run holds it) and store the run's shards."""
        lease = self._locks.acquire(LOCK_NAME, RUN_LEASE_SECONDS)
        if lease is None:
            raise LockNotAcquired(LOCK_NAME)
        try:
            shards = plan_shards(self._store, self._shard_size)
            info = RunInfo(str(uuid.uuid4()), dry_run, self._clock(), len(shards), lease)
            self._store.start_run(info, shards)
        except BaseException:
            self._locks.release(lease)
            raise
        return RunPlan(info.run_id, len(shards), dry_run)

    def work(self, run_id: str, number: int, *, deadline: float | None = None) -> bool:
        """Reconcile one shard from its checkpoint on; False when ``deadline`` (``monotonic``) came first.

        ``LockNotAcquired`` while another attempt holds the shard; the caller retries later.
        """
        run = self._store.run_info(run_id)
        if run is None:
            raise ReconcileRunNotFound(run_id)
        with self._locks.hold(shard_lock_name(run_id, number), SHARD_LEASE_SECONDS) as lease:
            shard, checkpoint = self._store.shard(run_id, number)
            if checkpoint.phase == Phase.DONE:
                return True
            attempt = _ShardAttempt(self, run, number, shard, checkpoint, _LeaseKeeper(self._locks, lease, self._clock))
            return attempt.go(deadline)

    def finish(self, run_id: str, *, failed: bool = False) -> ReconcileReport:
        """The run's report; its lock released."""
        run = self._store.run_info(run_id)
        if run is None:
            raise ReconcileRunNotFound(run_id)
        status = "failed" if failed else "done"
        counts = self._store.finish_run(run_id, status)
        if run.lease is not None and not self._locks.release(run.lease):
            log.warning("the run's lock %r had expired before the run finished", LOCK_NAME)
        return ReconcileReport(run_id, run.dry_run, run.shards, status, counts)

    def run(self, *, dry_run: bool = False) -> ReconcileReport:
        """A whole run in this process, shard after shard (the CLI, a direct invocation, the local system)."""
        plan = self.plan(dry_run=dry_run)
        try:
            for number in range(plan.shards):
                while not self.work(plan.run_id, number):
                    pass
        except BaseException:
            self.finish(plan.run_id, failed=True)
            raise
        return self.finish(plan.run_id)


class _LeaseKeeper:
    """Renews the shard's lease once half of it is gone; ``ShardLeaseLost`` when it ended meanwhile."""

    def __init__(self, locks: DistributedLockManager, lease: Lease, clock: Callable[[], datetime]) -> None:
        self._locks = locks
        self._clock = clock
        self.lease = lease

    def keep(self) -> None:
        if self.lease.remaining_seconds(self._clock()) > SHARD_LEASE_SECONDS / 2:
            return
        renewed = self._locks.renew(self.lease, SHARD_LEASE_SECONDS)
        if renewed is None:
            raise ShardLeaseLost(self.lease.name)
        self.lease = renewed


@dataclass(frozen=True)
class _Expected:
    record: TriggerRecord
    spec: ScheduleSpec


class _ShardAttempt:
    """One invocation's work on one shard."""

    def __init__(
        self,
        reconciler: Reconciler,
        run: RunInfo,
        number: int,
        shard: Shard,
        checkpoint: Checkpoint,
        keeper: _LeaseKeeper,
    ) -> None:
        self._r = reconciler
        self._run = run
        self._number = number
        self._shard = shard
        self._checkpoint = checkpoint
        self._keeper = keeper
        self._seen: set[str] = set()  # names of the shard's listing that belong to a trigger
        self._now = reconciler._clock()

    # -- the whole attempt

    def go(self, deadline: float | None) -> bool:
        self._deadline = deadline
        for index, prefix in enumerate(self._shard.prefixes):
            deciding = self._checkpoint.phase == Phase.LISTING and index >= self._checkpoint.prefixes_done
            in_step = self._list(prefix, deciding)
            if in_step is None:
                return False
            if deciding:
                self._save(replace(self._checkpoint, prefixes_done=index + 1), in_step)
        if self._checkpoint.phase == Phase.LISTING:
            for name in self._shard.probes:
                self._probe(name)
            self._save(Checkpoint(Phase.MISSING))
        after = self._checkpoint.after
        while page := self._r._store.trigger_page(self._shard, after, TRIGGER_PAGE):
            if self._out_of_time():
                return False
            self._missing([record for _, record in page])
            after = page[-1][0]
            self._save(replace(self._checkpoint, after=after))
        self._save(Checkpoint(Phase.DONE))
        return True

    def _out_of_time(self) -> bool:
        self._keeper.keep()
        self._now = self._r._clock()
        return self._deadline is not None and self._r._monotonic() >= self._deadline

    def _save(self, checkpoint: Checkpoint, in_step: int = 0) -> None:
        store = self._r._store
        store.save_checkpoint(self._run.run_id, self._number, self._keeper.lease.fencing_token, checkpoint, in_step)
        self._checkpoint = checkpoint

    def _count(self, counter: Counter) -> None:
        self._r._store.count(self._run.run_id, self._number, counter)

    # -- the listing phase

    def _list(self, prefix: str, deciding: bool) -> int | None:
        """List a prefix page by page; the schedules found in step without a call (None: out of time)."""
        for _ in range(LISTING_RESTARTS):
            in_step, token = 0, None
            try:
                while True:
                    if self._out_of_time():
                        return None
                    page, token = self._r._schedules.list_page(prefix, token)
                    in_step += self._listed_page(page, deciding)
                    if token is None:
                        return in_step
            except ListingExpired:
                log.warning("the listing of %r expired; listing it again", prefix)
        raise ListingExpired(prefix)

    def _listed_page(self, page: list[ListedSchedule], deciding: bool) -> int:
        stems = {stem for stem in (stem_of(listed.name) for listed in page) if stem is not None}
        expected: dict[str, _Expected] = {}
        kept: set[str] = set()  # names of triggers whose expression no longer translates
        for record in self._r._store.triggers_with_stems(stems) if stems else []:
            specs = _specs(record)
            if specs is None:
                stem = schedule_stem(record.workflow_id, record.trigger_id)
                kept.update(listed.name for listed in page if stem_of(listed.name) == stem)
            for spec in specs or []:
                expected[spec.name] = _Expected(record, spec)
        self._seen.update(name for name in (listed.name for listed in page) if name in expected or name in kept)
        if not deciding:
            return 0
        written = self._r._store.written([listed.name for listed in page if listed.name in expected])
        in_step = 0
        pins: list[Pin] = []
        for listed in page:
            if listed.name in expected:
                in_step += self._decide(listed, expected[listed.name], written.get(listed.name), pins)
            elif listed.name not in kept:
                self._orphan(listed.name, listed.last_modified)
        if pins:
            self._r._store.pin(self._run.run_id, self._number, pins, self._r._clock())
        return in_step

    def _decide(
        self, listed: ListedSchedule, expected: _Expected, written: WrittenSchedule | None, pins: list[Pin]
    ) -> int:
        """Compare one listed schedule of a trigger; 1 when it is in step without a call (a deploy's write the
        listing matches goes to ``pins`` instead: the pin counts it)."""
        schedules, spec = self._r._schedules, expected.spec
        if written is not None and self._done_this_run(written):
            return 0  # this run wrote or read it already (an attempt before this one)
        wanted = schedules.definition_hash(spec)
        known = (
            written is not None and listed.last_modified is not None and written.left_as_written(listed.last_modified)
        )
        listed_in_step = schedules.listed_in_step(spec, listed)
        if known and listed_in_step and written is not None and written.definition_hash == wanted:
            if written.written_from is not None and listed.last_modified is not None and not self._run.dry_run:
                pins.append(Pin(listed.name, written.written_from, listed.last_modified))
                return 0
            return 1
        if self._recent(listed.last_modified) or self._recent(expected.record.updated_at):
            self._count(Counter.DEFERRED)
        elif not listed_in_step or known:
            # The listing shows a wrong state or target; or the schedule is as the service last wrote it and that
            # is no longer the definition (a new cron function or role, a version the deploy's write did not reach).
            self._write(expected, Counter.REPAIRED)
        else:
            self._check(expected, listed.last_modified)
        return 0

    def _orphan(self, name: str, last_modified: datetime | None) -> None:
        if self._recent(last_modified):  # perhaps a deploy's schedule whose trigger is not committed yet
            self._count(Counter.DEFERRED)
            return
        if not self._run.dry_run:
            self._r._schedules.delete(name)
        self._count(Counter.DELETED)

    def _probe(self, name: str) -> None:
        if self._r._schedules.exists(name):
            self._orphan(name, None)

    # -- the missing phase

    def _missing(self, records: list[TriggerRecord]) -> None:
        expected = [
            _Expected(record, spec)
            for record in records
            for spec in self._specs_counted(record)
            if spec.name not in self._seen
        ]
        written = self._r._store.written([e.spec.name for e in expected]) if expected else {}
        for one in expected:
            done = written.get(one.spec.name)
            if done is not None and self._done_this_run(done):
                continue  # created by an earlier attempt of this run (a listing may not show it yet)
            if self._recent(one.record.updated_at):
                self._check(one, None)  # its deploy may have created it after the listing
            else:
                self._create(one)

    def _specs_counted(self, record: TriggerRecord) -> list[ScheduleSpec]:
        specs = _specs(record)
        if specs is None:
            self._count(Counter.UNREADABLE)
        return specs or []

    # -- the calls that change a schedule, each remembered with its count

    def _create(self, expected: _Expected) -> None:
        if self._run.dry_run:
            self._count(Counter.CREATED)
            return
        try:
            self._r._schedules.create(expected.spec)
        except ScheduleExists:
            self._check(expected, None)  # created meanwhile (a deploy, or a listing that lagged)
            return
        self._remember(expected, self._r._clock(), Counter.CREATED)

    def _write(self, expected: _Expected, counter: Counter) -> None:
        if self._run.dry_run:
            self._count(counter)
            return
        self._r._schedules.update(expected.spec)
        self._remember(expected, self._r._clock(), counter)

    def _check(self, expected: _Expected, listed_at: datetime | None) -> None:
        """Read the schedule: remember it when in step, repair it when not, create it when gone."""
        read: ReadSchedule | None = self._r._schedules.read(expected.spec)
        if read is None:
            self._create(expected)
        elif not read.in_step:
            self._write(expected, Counter.REPAIRED)
        elif self._run.dry_run:
            self._count(Counter.VERIFIED)
        else:
            self._remember(expected, read.last_modified or listed_at or self._r._clock(), Counter.VERIFIED)

    def _remember(self, expected: _Expected, modified_at: datetime, counter: Counter) -> None:
        written = WrittenSchedule(
            self._r._schedules.definition_hash(expected.spec), modified_at, checked_at=self._r._clock()
        )
        self._r._store.record(expected.record, expected.spec.name, written, self._run.run_id, self._number, counter)

    def _done_this_run(self, written: WrittenSchedule) -> bool:
        return written.checked_at is not None and written.checked_at >= self._run.started_at

    def _recent(self, moment: datetime | None) -> bool:
        return moment is not None and moment > self._now - self._r._settle


def _specs(record: TriggerRecord) -> list[ScheduleSpec] | None:
    """The trigger's schedules; None (logged) when its stored expression no longer translates."""
    try:
        return schedule_specs(record)
    except ValueError:
        log.warning(
            "cron trigger %s/%s: its expression no longer translates; its schedules are left as they are",
            record.workflow_id,
            record.trigger_id,
        )
        return None
