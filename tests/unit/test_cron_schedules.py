"""Bounded work per request: the trigger cap, concurrent schedule calls with exact compensation, throttling,
and previews that stop at EventBridge's last year."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.fakes import MemoryStore, MemoryTx
from workflow_scheduler.adapters.concurrency import RateLimiter, thread_pool_runner
from workflow_scheduler.adapters.scheduler import THROTTLE_RETRIES, EventBridgeSchedules, SchedulerTarget
from workflow_scheduler.domain.deployments import DeploymentService
from workflow_scheduler.domain.errors import RegistrationFailed, TooManyTriggers
from workflow_scheduler.domain.ports import UndoLog
from workflow_scheduler.domain.triggers.cron.evaluate import next_fire_times
from workflow_scheduler.domain.triggers.cron.preview import preview
from workflow_scheduler.domain.triggers.cron.registrar import CronRegistrar
from workflow_scheduler.domain.triggers.cron.schedules import ScheduleSpec
from workflow_scheduler.domain.triggers.cron.translate import translate
from workflow_scheduler.domain.triggers.manager import TriggerManager
from workflow_scheduler.domain.triggers.manual.registrar import ManualRegistrar
from workflow_scheduler.domain.triggers.webhook.registrar import WebhookRegistrar
from workflow_scheduler.http import describe_error

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def cron(node_id: str, expression: str) -> dict[str, Any]:
    return {
        "id": node_id,
        "node_type": "TRIGGER_NODE",
        "subtype": "TRIGGER_CRON",
        "parameters": {"cron_expression": expression},
    }


def manual(node_id: str) -> dict[str, Any]:
    return {"id": node_id, "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_MANUAL", "parameters": {}}


def spec(*nodes: dict[str, Any]) -> dict[str, Any]:
    return {"name": "wf", "nodes": list(nodes)}


def crons(count: int, expression: str = "0 12 1,15 * MON") -> list[dict[str, Any]]:
    """``count`` cron triggers; the default expression splits into two schedules each."""
    return [cron(f"c{i}", expression) for i in range(count)]


class FakeSchedules:
    """An in-memory EventBridge Scheduler, safe across threads, that can fail its k-th call (1-based)."""

    def __init__(self, fail_call: int | None = None, delay: float = 0.0) -> None:
        self.schedules: dict[str, ScheduleSpec] = {}
        self.calls = 0
        self.fail_call = fail_call
        self.delay = delay
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()

    def _enter(self) -> None:
        with self._lock:
            self.calls += 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            failing = self.calls == self.fail_call
        time.sleep(self.delay)
        with self._lock:
            self.in_flight -= 1
        if failing:
            raise RegistrationFailed("EventBridge Scheduler refused the call: InternalServerException")

    def create(self, spec: ScheduleSpec) -> None:
        self._enter()
        with self._lock:
            assert spec.name not in self.schedules, f"{spec.name} exists"
            self.schedules[spec.name] = spec

    def update(self, spec: ScheduleSpec) -> None:
        self._enter()
        with self._lock:
            assert spec.name in self.schedules, f"{spec.name} does not exist"
            self.schedules[spec.name] = spec

    def delete(self, name: str) -> None:
        self._enter()
        with self._lock:
            self.schedules.pop(name, None)

    def definition_hash(self, spec: ScheduleSpec) -> str:
        return f"{spec.expression} {spec.timezone} {spec.enabled} v{spec.version}"

    def get(self, name: str) -> dict[str, Any] | None:  # pragma: no cover - not used by deploys
        return None

    def in_step(self, spec: ScheduleSpec, actual: dict[str, Any]) -> bool:  # pragma: no cover
        return True

    def list_names(self) -> list[str]:  # pragma: no cover
        return list(self.schedules)


def service(schedules: FakeSchedules, store: MemoryStore | None = None, **options: Any) -> DeploymentService:
    manager = TriggerManager([ManualRegistrar(), WebhookRegistrar(), CronRegistrar(schedules, clock=lambda: NOW)])
    return DeploymentService(store or MemoryStore(), manager, run_all=thread_pool_runner(8), **options)


# -- the cap -------------------------------------------------------------------------------------------------


def test_more_trigger_nodes_than_the_cap_are_refused_before_any_work() -> None:
    schedules = FakeSchedules()
    deployments = service(schedules, max_triggers=3)
    nodes = [*crons(2), manual("m1"), manual("m2"), {"id": "step", "node_type": "ACTION_NODE"}]
    with pytest.raises(TooManyTriggers) as refused:
        deployments.deploy("wf", "alice", spec(*nodes))
    assert "4 trigger nodes" in refused.value.message and "at most 3" in refused.value.message
    assert schedules.calls == 0
    status, body, _ = describe_error(refused.value)
    assert status == 422 and body["error"] == "too_many_triggers"


def test_the_cap_counts_invalid_trigger_nodes_too_and_allows_exactly_the_cap() -> None:
    deployments = service(FakeSchedules(), max_triggers=2)
    unknown = {"id": "x", "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_NOPE"}
    with pytest.raises(TooManyTriggers):
        deployments.deploy("wf", "alice", spec(manual("a"), manual("b"), unknown))
    assert deployments.deploy("wf", "alice", spec(manual("a"), manual("b"))).changed


def test_the_default_cap_is_100() -> None:
    deployments = service(FakeSchedules())
    with pytest.raises(TooManyTriggers, match="101 trigger nodes; at most 100"):
        deployments.deploy("wf", "alice", spec(*[manual(f"m{i}") for i in range(101)]))


# -- concurrency -----------------------------------------------------------------------------------------------


def test_a_deploy_at_the_cap_runs_its_schedule_calls_at_once_within_the_bound() -> None:
    schedules = FakeSchedules(delay=0.02)
    deployments = service(schedules)
    started = time.perf_counter()
    deployments.deploy("wf", "alice", spec(*crons(100)))
    elapsed = time.perf_counter() - started
    assert schedules.calls == 200 and len(schedules.schedules) == 200
    assert 2 <= schedules.most_in_flight <= 8
    # One after another this takes 200 x 20 ms = 4 s; eight at a time about 0.5 s.
    assert elapsed < 2.0, elapsed


def test_nothing_is_called_outside_when_the_database_part_fails() -> None:
    schedules = FakeSchedules()
    store = MemoryStore()
    deployments = service(schedules, store)
    hook = {
        "id": "h",
        "node_type": "TRIGGER_NODE",
        "subtype": "TRIGGER_WEBHOOK",
        "parameters": {"webhook_path": "shared/hook"},
    }
    deployments.deploy("other", "bob", spec(hook))
    with pytest.raises(Exception, match="already taken"):
        deployments.deploy("wf", "alice", spec(*crons(5), hook))
    assert schedules.calls == 0


@pytest.mark.parametrize("k", [1, 2, 7, 40, 99, 100])
def test_a_failed_first_deploy_deletes_exactly_the_schedules_it_created(k: int) -> None:
    schedules = FakeSchedules(fail_call=k)
    store = MemoryStore()
    with pytest.raises(RegistrationFailed):
        service(schedules, store).deploy("wf", "alice", spec(*crons(50)))
    assert schedules.schedules == {}
    assert store.deployments == {} and store.triggers == {}
    # The 100 creates were all tried; each one that succeeded was deleted once.
    assert schedules.calls == 100 + 99


def _update_plan() -> tuple[dict[str, Any], dict[str, Any]]:
    """Before: 30 split triggers. After: 10 removed, 10 changed (split to one schedule: update + delete), 10
    untouched and 10 added (two creates each)."""
    before = spec(*crons(30))
    nodes = crons(30)
    after_nodes = nodes[10:20] + nodes[20:30] + [cron(f"n{i}", "0 12 1,15 * MON") for i in range(10)]
    for node in after_nodes[:10]:
        node["parameters"]["cron_expression"] = "30 6 * * *"
    return before, spec(*after_nodes)


def test_an_update_without_failure_makes_the_expected_calls() -> None:
    before, after = _update_plan()
    schedules = FakeSchedules()
    deployments = service(schedules)
    deployments.deploy("wf", "alice", before)
    schedules.calls = 0
    deployments.deploy("wf", "alice", after)
    # 10 removed x 2 deletes, 10 changed x (1 update + 1 delete), 10 added x 2 creates.
    assert schedules.calls == 20 + 20 + 20
    assert len(schedules.schedules) == 20 * 2 + 10


@pytest.mark.parametrize("k", [1, 13, 30, 59, 60])
def test_a_failed_update_restores_every_schedule_whichever_call_fails(k: int) -> None:
    before, after = _update_plan()
    schedules = FakeSchedules()
    store = MemoryStore()
    deployments = service(schedules, store)
    deployments.deploy("wf", "alice", before)
    snapshot, triggers = dict(schedules.schedules), dict(store.triggers)
    schedules.calls, schedules.fail_call = 0, k
    with pytest.raises(RegistrationFailed):
        deployments.deploy("wf", "alice", after)
    assert schedules.schedules == snapshot  # created ones deleted, changed restored, deleted ones recreated
    assert store.triggers == triggers and store.deployments["wf"].version == 1


@pytest.mark.parametrize("k", [1, 25, 40])
def test_a_failed_undeploy_and_pause_recreate_and_restore_every_schedule(k: int) -> None:
    schedules = FakeSchedules()
    store = MemoryStore()
    deployments = service(schedules, store)
    deployments.deploy("wf", "alice", spec(*crons(20)))
    snapshot = dict(schedules.schedules)
    schedules.calls, schedules.fail_call = 0, k
    with pytest.raises(RegistrationFailed):
        deployments.undeploy("wf", "alice")
    assert schedules.schedules == snapshot
    schedules.calls = 0
    with pytest.raises(RegistrationFailed):
        deployments.pause("wf", "alice")
    assert schedules.schedules == snapshot and all(s.enabled for s in snapshot.values())


def test_undo_log_records_compensations_only_for_deferred_actions_that_succeeded() -> None:
    done: list[str] = []
    undone: list[str] = []
    undo = UndoLog(thread_pool_runner(4))

    def action(name: str) -> None:
        if name == "bad":
            raise RuntimeError(name)
        done.append(name)

    for name in ("a", "bad", "b"):
        undo.defer(lambda n=name: action(n), f"undo {name}", lambda n=name: undone.append(n))  # type: ignore[misc]
    with pytest.raises(RuntimeError):
        undo.flush(MemoryTx(MemoryStore()))
    assert sorted(done) == ["a", "b"]
    assert undo.run() == [] and sorted(undone) == ["a", "b"]


# -- rate limit and throttling in the adapter -------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_rate_limiter_lets_at_most_the_rate_through_each_second() -> None:
    clock = FakeClock()
    limiter = RateLimiter(50, clock=clock, sleep=clock.sleep)
    for _ in range(200):
        limiter.acquire()
    # One every 20 ms: the 200th starts 3.98 s after the first.
    assert clock.now == pytest.approx(3.98)
    assert all(gap == pytest.approx(0.02) for gap in clock.slept[1:])


def _throttled(operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, operation)


class ThrottlingClient:
    def __init__(self, throttled_times: int) -> None:
        self.throttled_times = throttled_times
        self.calls = 0

    def create_schedule(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        if self.calls <= self.throttled_times:
            raise _throttled("CreateSchedule")
        return {"ScheduleArn": "arn"}


TARGET = SchedulerTarget(group_name="g", function_arn="arn:fn", role_arn="arn:role")
SPEC = ScheduleSpec("s", "cron(0 9 * * ? *)", "UTC", True, "wf", "t", 1)


def test_a_throttled_call_backs_off_exponentially_and_then_succeeds() -> None:
    client, slept = ThrottlingClient(throttled_times=4), list[float]()
    adapter = EventBridgeSchedules(TARGET, client, sleep=slept.append, jitter=lambda low, high: high)
    adapter.create(SPEC)
    assert client.calls == 5
    assert slept == [0.1, 0.2, 0.4, 0.8]


def test_a_call_throttled_past_the_retries_is_a_registration_failure() -> None:
    client, slept = ThrottlingClient(throttled_times=100), list[float]()
    adapter = EventBridgeSchedules(TARGET, client, sleep=slept.append, jitter=lambda low, high: high)
    with pytest.raises(RegistrationFailed, match="ThrottlingException"):
        adapter.create(SPEC)
    assert client.calls == THROTTLE_RETRIES + 1 and max(slept) == 2.0


# -- previews stop at EventBridge's last year --------------------------------------------------------------------


def test_a_leap_day_preview_stops_at_2199_and_says_so() -> None:
    started = time.perf_counter()
    result = preview("0 0 29 2 *", "UTC", 1000, NOW)
    assert time.perf_counter() - started < 2.0
    assert result.runs[0].year == 2028 and result.runs[-1].year == 2196
    assert len(result.runs) == 42  # leap years 2028..2196; 2100 is not one
    assert any("2199" in w and "42 runs" in w for w in result.warnings), result.warnings


def test_a_preview_that_is_not_cut_short_has_no_such_warning() -> None:
    result = preview("0 0 29 2 *", "UTC", 5, NOW)
    assert len(result.runs) == 5 and not any("2199" in w for w in result.warnings)


@pytest.mark.parametrize(
    "expression",
    ["0 0 29 2 *", "59 23 31 12 *", "0 0 29 2 MON", "*/1 * 29 2 *", "0 0 1 1 *", "0 0 31 * SUN"],
)
def test_no_expression_makes_the_evaluator_run_past_2199(expression: str) -> None:
    started = time.perf_counter()
    runs = next_fire_times(translate(expression, "UTC").schedules, "UTC", NOW, 1000)
    assert time.perf_counter() - started < 3.0
    assert runs and runs[-1].year <= 2199
