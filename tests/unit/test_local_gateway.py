"""The local gateway runs different functions side by side, each one invocation at a time, as Lambda would.

A slow invocation of one function (a 30 s deploy) must not hold up another function (a webhook), and the
functions' shared Powertools Logger and Metrics must keep each invocation's state to itself meanwhile.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest
import requests
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from workflow_scheduler.local.gateway import Gateway, GatewayServer, LocalRequest, LocalResponse
from workflow_scheduler.local.invoke import LocalContext
from workflow_scheduler.local.isolation import isolate_invocations
from workflow_scheduler.local.routes import ANY, Route

ROUTES = [Route(ANY, "/v1/{proxy+}", "api"), Route(ANY, "/webhook/{path+}", "webhook")]
WAIT = 10.0


def ok(status: int = 200) -> dict[str, Any]:
    return {"statusCode": status, "body": "{}"}


class Held:
    """A handler that answers only once released, and says when it has started."""

    def __init__(self) -> None:
        self.started = threading.Semaphore(0)
        self.release = threading.Event()
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        self.started.release()
        self.release.wait(WAIT)
        with self._lock:
            self.running -= 1
        return ok()


def request(path: str) -> LocalRequest:
    return LocalRequest(method="POST", path=path, query="", headers={}, body=b"{}")


def in_thread(call: Callable[[], LocalResponse]) -> tuple[threading.Thread, list[LocalResponse]]:
    answers: list[LocalResponse] = []
    thread = threading.Thread(target=lambda: answers.append(call()), daemon=True)
    thread.start()
    return thread, answers


def test_a_slow_function_does_not_hold_up_another() -> None:
    slow = Held()
    gateway = Gateway(ROUTES, {"api": slow, "webhook": lambda event, context: ok(202)}, [], "127.0.0.1:8003")
    deploy, _ = in_thread(lambda: gateway.handle(request("/v1/workflows/wf-1/deploy")))
    assert slow.started.acquire(timeout=WAIT)
    try:
        webhook, answers = in_thread(lambda: gateway.handle(request("/webhook/wf-2")))
        webhook.join(2.0)
        assert not webhook.is_alive(), "the webhook waited for the deploy"
        assert answers[0].status == 202
    finally:
        slow.release.set()
        deploy.join(WAIT)


def test_one_function_runs_one_invocation_at_a_time() -> None:
    slow = Held()
    gateway = Gateway(ROUTES, {"api": slow, "webhook": lambda event, context: ok(202)}, [], "127.0.0.1:8003")
    first, _ = in_thread(lambda: gateway.handle(request("/v1/workflows/wf-1/deploy")))
    assert slow.started.acquire(timeout=WAIT)
    second, _ = in_thread(lambda: gateway.handle(request("/v1/workflows/wf-2/deploy")))
    assert not slow.started.acquire(timeout=0.5), "a second invocation of the function started alongside"
    assert gateway.function_lock("api").locked()
    slow.release.set()
    first.join(WAIT)
    second.join(WAIT)
    assert slow.most_at_once == 1


@pytest.fixture
def powertools(monkeypatch: pytest.MonkeyPatch) -> tuple[Logger, Metrics, io.StringIO]:
    """A Logger and Metrics like observability.py's (own names, so the process-wide ones stay as they are)."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    output = io.StringIO()
    logger = Logger(service="isolation-test", logger_handler=logging.StreamHandler(output))
    metrics = Metrics(namespace="IsolationTest", service="isolation-test")
    isolate_invocations(logger, metrics)
    return logger, metrics, output


def test_functions_side_by_side_keep_their_own_log_keys_and_metrics(
    powertools: tuple[Logger, Metrics, io.StringIO],
) -> None:
    logger, metrics, output = powertools
    a_has_started = threading.Event()
    b_is_done = threading.Event()
    seen_by_a: dict[str, Any] = {}

    @logger.inject_lambda_context(clear_state=True)
    def function_a(event: dict[str, Any], context: Any) -> None:
        logger.append_keys(user_id="alice")
        metrics.add_metric(name="Deployments", unit=MetricUnit.Count, value=1)
        a_has_started.set()
        assert b_is_done.wait(WAIT)  # b started, logged and was cleared meanwhile
        logger.info("a is done")
        seen_by_a.update(metrics.provider.metric_set)

    @logger.inject_lambda_context(clear_state=True)
    def function_b(event: dict[str, Any], context: Any) -> None:
        logger.append_keys(user_id="bob")
        logger.info("b is done")

    a = threading.Thread(target=function_a, args=({}, LocalContext(function_name="workflow-scheduler-api")))
    a.start()
    assert a_has_started.wait(WAIT)
    b = threading.Thread(target=function_b, args=({}, LocalContext(function_name="workflow-scheduler-webhook")))
    b.start()
    b.join(WAIT)
    metrics.clear_metrics()  # what the local system does after each invocation, here after b's
    b_is_done.set()
    a.join(WAIT)

    lines = {line["message"]: line for line in map(json.loads, output.getvalue().splitlines())}
    assert (lines["a is done"]["function_name"], lines["a is done"]["user_id"]) == ("workflow-scheduler-api", "alice")
    assert (lines["b is done"]["function_name"], lines["b is done"]["user_id"]) == ("workflow-scheduler-webhook", "bob")
    assert "Deployments" in seen_by_a, "clearing b's metrics cleared a's"


def test_a_failure_of_the_gateway_itself_is_a_json_500_and_it_serves_on() -> None:
    def broken(request: LocalRequest) -> LocalResponse | None:
        if request.path == "/broken":
            raise RuntimeError("a bug")
        return None

    server = GatewayServer("127.0.0.1", 0)
    server.serve(Gateway(ROUTES, {"webhook": lambda event, context: ok(202)}, [broken], "127.0.0.1:8003"))
    try:
        base = f"http://127.0.0.1:{server.port}"
        failed = requests.get(f"{base}/broken", timeout=WAIT)
        assert failed.status_code == 500
        assert failed.json() == {"error": "internal_error", "message": "the local gateway failed"}
        assert requests.post(f"{base}/webhook/x", timeout=WAIT).status_code == 202
    finally:
        server.close()
