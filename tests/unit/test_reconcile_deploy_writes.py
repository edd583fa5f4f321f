"""What a deploy wrote to a schedule: recorded in its transaction only when every call succeeded, and matched by
reconcile against the listing's modification date within the call's window, give or take the clocks' skew."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.fakes import MemoryStore, MemoryTx, RecordingRegistrar
from tests.unit.test_cron_schedules import cron
from workflow_scheduler.adapters.concurrency import thread_pool_runner
from workflow_scheduler.domain.deployments import DeploymentService
from workflow_scheduler.domain.errors import RegistrationFailed
from workflow_scheduler.domain.models import TriggerType
from workflow_scheduler.domain.ports import UndoLog
from workflow_scheduler.domain.triggers.cron.reconcile import WrittenSchedule
from workflow_scheduler.domain.triggers.cron.registrar import CronRegistrar
from workflow_scheduler.domain.triggers.cron.schedules import CLOCK_SKEW, ScheduleSpec
from workflow_scheduler.domain.triggers.manager import TriggerManager

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


class Schedules:
    """Schedules in a dict; a create of ``refused`` fails; the clock moves a second per call."""

    def __init__(self, refused: str = "") -> None:
        self.schedules: dict[str, ScheduleSpec] = {}
        self.refused = refused
        self.now = T0

    def clock(self) -> datetime:
        return self.now

    def create(self, spec: ScheduleSpec) -> None:
        self.now += SECOND
        if spec.trigger_id == self.refused:
            raise RegistrationFailed("EventBridge Scheduler refused the call")
        self.schedules[spec.name] = spec

    def update(self, spec: ScheduleSpec) -> None:
        self.now += SECOND
        self.schedules[spec.name] = spec

    def delete(self, name: str) -> None:
        self.schedules.pop(name, None)

    def definition_hash(self, spec: ScheduleSpec) -> str:
        return f"{spec.expression} {spec.enabled} v{spec.version}"


def service(schedules: Schedules, store: MemoryStore) -> DeploymentService:
    registrars = [CronRegistrar(schedules, clock=schedules.clock), RecordingRegistrar(TriggerType.MANUAL)]
    return DeploymentService(store, TriggerManager(registrars))


def test_a_deploy_records_each_schedule_it_wrote_with_the_window_of_its_call() -> None:
    schedules, store = Schedules(), MemoryStore()
    service(schedules, store).deploy("wf", "alice", {"nodes": [cron("a", "0 9 * * *")]})
    ((name, write),) = store.schedule_writes.items()
    assert (write.workflow_id, write.trigger_id, write.started, write.ended) == ("wf", "a", T0, T0 + SECOND)
    assert write.definition_hash == schedules.definition_hash(schedules.schedules[name])

    service(schedules, store).pause("wf", "alice")
    assert store.schedule_writes[name].definition_hash == schedules.definition_hash(schedules.schedules[name])
    assert (store.schedule_writes[name].started, store.schedule_writes[name].ended) == (T0 + SECOND, T0 + 2 * SECOND)
    service(schedules, store).undeploy("wf", "alice")
    assert store.schedule_writes == {}


def test_a_deploy_that_fails_records_nothing_of_the_calls_that_succeeded() -> None:
    schedules, store = Schedules(refused="b"), MemoryStore()
    deployments = service(schedules, store)
    with pytest.raises(RegistrationFailed):
        deployments.deploy("wf", "alice", {"nodes": [cron("a", "0 9 * * *"), cron("b", "0 10 * * *")]})
    assert store.schedule_writes == {} and schedules.schedules == {}  # a's create was made, then compensated


def test_records_are_written_after_every_deferred_action_succeeded_and_not_otherwise() -> None:
    tx = MemoryTx(MemoryStore())
    events: list[str] = []
    undo = UndoLog(thread_pool_runner(4))
    for name in ("a", "b"):
        undo.defer(
            lambda n=name: events.append(f"call {n}"),  # type: ignore[misc]
            f"undo {name}",
            lambda: None,
            record=lambda _, n=name: events.append(f"record {n}"),  # type: ignore[misc]
        )
    undo.flush(tx)
    assert sorted(events[:2]) == ["call a", "call b"] and sorted(events[2:]) == ["record a", "record b"]

    events.clear()
    undo.defer(lambda: events.append("call ok"), "undo ok", lambda: None, record=lambda _: events.append("record"))
    undo.defer(lambda: 1 / 0, "undo bad", lambda: None, record=lambda _: events.append("record"))
    with pytest.raises(ZeroDivisionError):
        undo.flush(tx)
    assert events == ["call ok"]


def test_a_deploys_write_matches_a_date_within_its_window_give_or_take_the_skew() -> None:
    deployed = WrittenSchedule("h", modified_at=T0 + SECOND, checked_at=None, written_from=T0)
    tiny = timedelta(milliseconds=1)
    for date in (T0 - CLOCK_SKEW, T0, T0 + SECOND, T0 + SECOND + CLOCK_SKEW):
        assert deployed.left_as_written(date)
    for date in (T0 - CLOCK_SKEW - tiny, T0 + SECOND + CLOCK_SKEW + tiny):
        assert not deployed.left_as_written(date)  # before the deploy wrote, or changed after it


def test_reconciles_own_record_matches_any_date_up_to_the_one_it_pinned() -> None:
    pinned = WrittenSchedule("h", modified_at=T0, checked_at=T0 + SECOND)
    assert pinned.left_as_written(T0) and pinned.left_as_written(T0 - CLOCK_SKEW * 10)
    assert not pinned.left_as_written(T0 + timedelta(milliseconds=1))
