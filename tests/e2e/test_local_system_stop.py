"""The local system under load: one invocation at a time per function (not for all), and a bounded stop.

Two invocations are kept busy, without any test hook in the system: a deploy waits inside the api function for
the workflow's advisory lock, which the test holds in its own database session, and a dispatch waits inside the
dispatch function for an engine that answers only when the test lets it. Other functions answer meanwhile, and
Ctrl-C stops everything within 5 s, those two, a request whose body never arrives and an idle keep-alive
connection included; the embedded PostgreSQL is gone afterwards.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
import requests

from tests.e2e.local_system import LocalSystem, postmaster_running, start_system
from tests.support.engine import ACCEPT, Answer, Call, LoopbackEngine

pytestmark = pytest.mark.e2e

STOP_WITHIN_SECONDS = 5
QUICK_SECONDS = 5  # an answer that did not wait for the busy invocation (which waits for the test: minutes)
SPEC: dict[str, Any] = {
    "name": "busy",
    "nodes": [
        {"id": "run", "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_MANUAL", "parameters": {}},
        {"id": "hook", "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_WEBHOOK", "parameters": {"methods": ["POST"]}},
    ],
}


class HeldEngine:
    """An engine that holds every execute call until released."""

    def __init__(self) -> None:
        self.called = threading.Event()
        self.released = threading.Event()
        self.loopback = LoopbackEngine(self._rule)

    def _rule(self, call: Call) -> Answer:
        self.called.set()
        self.released.wait(120)
        return ACCEPT


@dataclass
class Busy:
    system: LocalSystem
    headers: dict[str, str]
    webhook_url: str


def deploy(system: LocalSystem, headers: dict[str, str], workflow_id: str, timeout: float = 30) -> requests.Response:
    url = f"{system.base_url}/v1/workflows/{workflow_id}/deploy"
    return requests.post(url, json={"workflow_spec": SPEC}, headers=headers, timeout=timeout)


@pytest.fixture(scope="module")
def engine() -> Iterator[HeldEngine]:
    held = HeldEngine()
    with held.loopback:
        yield held
        held.released.set()


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory, engine: HeldEngine) -> Iterator[LocalSystem]:
    local = start_system(tmp_path_factory.mktemp("busy") / "state", WORKFLOW_ENGINE_URL=engine.loopback.url)
    yield local
    local.stop()  # the last test stopped it already, unless it failed


@pytest.fixture(scope="module")
def busy(system: LocalSystem, engine: HeldEngine) -> Iterator[Busy]:
    """The api function busy with a deploy, the dispatch function busy with an engine call."""
    headers = {"Authorization": f"Bearer {system.token('alice')}"}
    other = f"wf-{uuid.uuid4().hex[:8]}"
    deployed = deploy(system, headers, other)
    assert deployed.status_code == 200, deployed.text
    webhook_url = next(t["webhook_url"] for t in deployed.json()["triggers"] if t["trigger_id"] == "hook")

    # A manual run: the dispatch poller hands it to the dispatch function, which calls the held engine.
    run = requests.post(f"{system.base_url}/v1/workflows/{other}/trigger/manual", json={}, headers=headers, timeout=30)
    assert run.status_code == 200, run.text
    assert engine.called.wait(30), "the dispatch function did not call the engine"

    # A deploy that waits inside the api function for the workflow's advisory lock, held here.
    slow = f"wf-slow-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(system.running_environment()["DATABASE_URL"], autocommit=True) as session:
        session.execute("SELECT pg_advisory_lock(hashtext(%s))", (slow,))
        threading.Thread(target=_deploy_in_background, args=(system, headers, slow), daemon=True).start()
        deadline = time.monotonic() + 30
        while session.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone() != (1,):
            assert time.monotonic() < deadline, "the deploy did not reach the advisory lock"
            time.sleep(0.1)
        yield Busy(system, headers, webhook_url)


def _deploy_in_background(system: LocalSystem, headers: dict[str, str], workflow_id: str) -> None:
    with contextlib.suppress(requests.RequestException):  # the system stops under it: what the last test does
        deploy(system, headers, workflow_id, timeout=120)


def test_a_webhook_answers_while_a_deploy_and_a_dispatch_are_in_flight(busy: Busy) -> None:
    for n in range(3):
        started = time.monotonic()
        response = requests.post(busy.webhook_url, json={"n": n}, timeout=QUICK_SECONDS)
        assert response.status_code == 202, response.text
        assert time.monotonic() - started < QUICK_SECONDS


def test_ctrl_c_stops_everything_within_5_s_whatever_is_in_flight(busy: Busy) -> None:
    system = busy.system
    host, port = system.base_url.removeprefix("http://").rsplit(":", 1)
    # A request whose body never arrives, and an idle keep-alive connection.
    stalled = socket.create_connection((host, int(port)), timeout=10)
    stalled.sendall(b"POST /webhook/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")
    keep_alive = requests.Session()
    assert keep_alive.post(busy.webhook_url, json={}, timeout=10).status_code == 202
    try:
        started = time.monotonic()
        system.process.send_signal(signal.SIGINT)
        try:
            status = system.process.wait(timeout=STOP_WITHIN_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {STOP_WITHIN_SECONDS} s after SIGINT:\n{system.output()}")
        elapsed = time.monotonic() - started
    finally:
        stalled.close()
        keep_alive.close()
    assert status == 0, system.output()
    assert elapsed < STOP_WITHIN_SECONDS
    assert not postmaster_running(system.state_dir), "the embedded PostgreSQL is still running"
    assert not (system.state_dir / "dev.json").exists()
