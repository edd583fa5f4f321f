"""``workflow-scheduler dev``: the whole system on one machine.

PostgreSQL (embedded unless ``DATABASE_URL``), an AWS endpoint (moto unless ``AWS_ENDPOINT_URL``) holding the
resources the CDK stack creates, the functions behind a local API Gateway, the dispatch queue consumed in-process, an
EventBridge Scheduler emulator firing the cron schedules, and an engine stub (unless ``WORKFLOW_ENGINE_URL``).
Ctrl-C or SIGTERM stops everything it started.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import logging
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import psycopg
from botocore.exceptions import BotoCoreError, ClientError
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from workflow_scheduler.adapters.migrations import apply_migrations
from workflow_scheduler.cli_error import CliError
from workflow_scheduler.local import state
from workflow_scheduler.local.aws_resources import (
    DISPATCH_MAX_RECEIVES,
    GITHUB_EVENTS_MAX_RECEIVES,
    Aws,
    create_resources,
)
from workflow_scheduler.local.engine_stub import BASE_PATH, EXECUTIONS_PATH, EngineStub
from workflow_scheduler.local.functions import function_names, load_handler_module
from workflow_scheduler.local.gateway import Gateway, GatewayServer, LambdaHandler, Mount
from workflow_scheduler.local.isolation import isolate_invocations
from workflow_scheduler.local.periodic import every
from workflow_scheduler.local.queue_poller import QueuePoller
from workflow_scheduler.local.routes import Route, active_routes
from workflow_scheduler.local.scheduler_emulator import ADVANCE_PATH, SchedulerApi, SchedulerEmulator

DATABASE_NAME = "workflow_scheduler"
DEFAULT_REGION = "us-east-1"
# What the CDK stack gives every function (infra_cdk/constants.py), and no tracing or EMF metrics blobs on
# the console; the developer's environment overrides them (e.g. LOG_LEVEL=DEBUG).
FUNCTION_DEFAULTS = {
    "POWERTOOLS_SERVICE_NAME": "workflow_scheduler",
    "POWERTOOLS_METRICS_NAMESPACE": "WorkflowScheduler",
    "LOG_LEVEL": "INFO",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
}
# Retries a developer can watch: seconds apart, not the deployed stack's minutes; the environment overrides them.
DISPATCH_DEFAULTS = {
    "DISPATCH_BACKOFF_BASE_SECONDS": "1",
    "DISPATCH_BACKOFF_MAX_SECONDS": "10",
}
# E-mail triggers: polled every EMAIL_CHECK_INTERVAL seconds (the stack: every minute), and a trigger's own
# check_interval may be as short (AWS holds it to a minute); a trigger may name a mail server on this machine, on any
# port (AWS allows public addresses on the IMAP ports only); the developer's environment overrides them.
EMAIL_DEFAULTS = {
    "EMAIL_CHECK_INTERVAL": "60",
    "EMAIL_MIN_CHECK_INTERVAL": "1",
    "EMAIL_ALLOW_PRIVATE_DESTINATIONS": "true",
}
EMAIL_POLLER_FUNCTION = "email_poller"
# The webhook secret of a GitHub App pointed at this machine (events/github/ are signed with it);
# GITHUB_WEBHOOK_SECRET overrides it. The App's credentials (GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY, GITHUB_API_URL)
# come from the environment as they are.
LOCAL_GITHUB_WEBHOOK_SECRET = "local-github-webhook-secret"  # noqa: S105 (public: for local deliveries only)
DISPATCH_FUNCTION = "dispatch"
# The queues consumed in-process, as Lambda's event source mappings would: function -> its queue's variable.
QUEUE_CONSUMERS = {DISPATCH_FUNCTION: "DISPATCH_QUEUE_URL", "github_router": "GITHUB_EVENTS_QUEUE_URL"}
CRON_FUNCTION = "cron"
API_FUNCTION = "api"
RETENTION_FUNCTION = "retention"
RETENTION_EVERY_SECONDS = 3600.0  # the stack runs it daily; hourly here, so that a short session sees it work
# Ctrl-C or SIGTERM to the last step of the stop, whatever is in flight; PostgreSQL's hard stop and the exit add
# at most about a second (the e2e tests hold the whole stop to 5 s).
STOP_SECONDS = 3.5
_LOG_FORMAT = "%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s: %(message)s"
_TIME_FORMAT = "%H:%M:%S"

log = logging.getLogger("local.dev")


class StopBudget:
    """The time left to stop: it runs from the first step on, and a step waits at most its share of it."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._ends: float | None = None

    def left(self, at_most: float) -> float:
        if self._ends is None:
            self._ends = time.monotonic() + self._seconds
        return max(0.0, min(at_most, self._ends - time.monotonic()))


def run(host: str, port: int) -> None:
    """Start everything, serve until SIGINT or SIGTERM, then stop everything that was started, in bounded time."""
    _configure_logging()
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    for signum in previous:  # SIGINT too: a shell starting us in the background may have ignored it
        signal.signal(signum, signal.default_int_handler)
    stack = contextlib.ExitStack()
    budget = StopBudget(STOP_SECONDS)
    try:
        _start(stack, budget, host, port)
        # Not Event.wait(): a signal inside its lock handling can raise RuntimeError instead. Short sleeps: the kernel
        # may deliver the signal to another thread, and Python only acts on it once the main thread wakes up.
        while True:
            time.sleep(0.25)
    except KeyboardInterrupt:
        log.info("stopping")
    finally:
        # A second Ctrl-C must not cut the shutdown short and leave PostgreSQL running.
        for signum in previous:
            signal.signal(signum, signal.SIG_IGN)
        try:
            stack.close()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    log.info("stopped")
    _exit()


def _exit() -> NoReturn:
    """End the process now: everything that needed stopping has stopped.

    The interpreter's own exit would wait for threads still busy (a dispatch worker in an engine call) and then
    collect every module, which takes seconds on a busy machine.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _bounded(budget: StopBudget, at_most: float, steps: dict[str, Callable[[], object]]) -> None:
    """Run stop steps side by side, waiting for them at most ``at_most`` seconds and never past the budget.

    A step still running then is left behind (its thread is a daemon): stopping never waits for a request, a
    function or a library that does not return.
    """
    threads = [
        threading.Thread(target=_logged, args=(what, step), name=f"stop {what}", daemon=True)
        for what, step in steps.items()
    ]
    for thread in threads:
        thread.start()
    ends = time.monotonic() + budget.left(at_most)
    for what, thread in zip(steps, threads, strict=True):
        thread.join(max(0.0, ends - time.monotonic()))
        if thread.is_alive():
            log.warning("%s did not stop in time; left behind", what)


def _logged(what: str, step: Callable[[], object]) -> None:
    try:
        step()
    except Exception:
        log.exception("stopping %s failed", what)


def _start(stack: contextlib.ExitStack, budget: StopBudget, host: str, port: int) -> None:
    started = time.monotonic()
    server = _listen(stack, budget, host, port)
    authority = f"{_url_host(host)}:{server.port}"
    base_url = f"http://{authority}"
    environment = _backing_services(stack, budget)
    mounts: list[Mount] = []
    if os.environ.get("WORKFLOW_ENGINE_URL") is None:
        mounts.append(EngineStub().handle)
    environment.update(_function_environment(base_url, engine_stubbed=bool(mounts)))
    os.environ.update(environment)  # before any handler is imported: functions read settings at cold start

    routes = active_routes()
    schedules_changed = threading.Event()
    gateway = Gateway(routes, _route_handlers(routes, schedules_changed), mounts, domain_name=authority)
    workers = _Workers(gateway, environment, schedules_changed)
    gateway.mount(workers.scheduler.handle)
    server.serve(gateway)

    state.save_environment(environment, base_url)
    stack.callback(state.clear_environment)
    stack.callback(every(RETENTION_EVERY_SECONDS, RETENTION_FUNCTION, _local(RETENTION_FUNCTION), {"dry_run": False}))
    # The first to stop, side by side: nothing new comes in and nothing new starts while the rest stops.
    stack.callback(_bounded, budget, 1.5, {"the gateway": server.close, **workers.start()})
    _banner(
        base_url,
        environment,
        routes,
        stub_mounted=bool(mounts),
        dispatching=workers.dispatching,
        github=_github_line(workers.routing_github, environment),
        seconds=time.monotonic() - started,
    )


def _listen(stack: contextlib.ExitStack, budget: StopBudget, host: str, port: int) -> GatewayServer:
    try:
        server = GatewayServer(host, port)
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    stack.callback(_bounded, budget, 1.0, {"the gateway": server.close})
    return server


def _backing_services(stack: contextlib.ExitStack, budget: StopBudget) -> dict[str, str]:
    """PostgreSQL migrated, the AWS endpoint with the stack's resources in it: their settings for the functions."""
    database_url = os.environ.get("DATABASE_URL") or _embedded_postgres(stack, budget, state.local_dir() / "pgdata")
    try:
        applied = apply_migrations(database_url)
    except psycopg.Error as exc:
        raise CliError(f"cannot migrate the database {_describe_database(database_url)}: {exc}") from exc
    log.info("database %s: %s", _describe_database(database_url), f"applied {applied}" if applied else "up to date")

    environment = {"DATABASE_URL": database_url, **_aws_environment(stack, budget)}
    os.environ.update(environment)  # creating the resources uses the same endpoint and credentials
    try:
        environment.update(create_resources(environment["AWS_ENDPOINT_URL"], environment["AWS_DEFAULT_REGION"]))
    except (BotoCoreError, ClientError) as exc:
        raise CliError(f"cannot create the AWS resources at {environment['AWS_ENDPOINT_URL']}: {exc}") from exc
    return environment


def _function_environment(base_url: str, *, engine_stubbed: bool) -> dict[str, str]:
    """What the CDK stack would set on the functions, pointed at this machine; the developer's values win."""
    engine_url = base_url + BASE_PATH if engine_stubbed else os.environ["WORKFLOW_ENGINE_URL"]
    environment = {
        "JWT_AUDIENCE": state.LOCAL_AUDIENCE,
        "JWT_ISSUER": state.LOCAL_ISSUER,
        "PUBLIC_BASE_URL": base_url,
        "WORKFLOW_ENGINE_URL": engine_url,
    }
    environment.update({key: os.environ.get(key, value) for key, value in FUNCTION_DEFAULTS.items()})
    environment.update({key: os.environ.get(key, value) for key, value in DISPATCH_DEFAULTS.items()})
    environment.update({key: os.environ.get(key, value) for key, value in EMAIL_DEFAULTS.items()})
    environment["DISPATCH_MAX_ATTEMPTS"] = str(DISPATCH_MAX_RECEIVES)  # the queue's maxReceiveCount: parked after it
    environment["GITHUB_ROUTER_MAX_RECEIVES"] = str(GITHUB_EVENTS_MAX_RECEIVES)  # likewise: its last attempt refuses
    if "GITHUB_WEBHOOK_SECRET" not in os.environ:  # a developer's own secret stays out of the state dir
        environment["GITHUB_WEBHOOK_SECRET"] = LOCAL_GITHUB_WEBHOOK_SECRET
    return environment


def _route_handlers(routes: list[Route], schedules_changed: threading.Event) -> dict[str, LambdaHandler]:
    handlers = {route.function: _local(route.function) for route in routes}
    # The api function is what changes schedules: after each call the emulator looks again at once.
    if API_FUNCTION in handlers:
        handlers[API_FUNCTION] = _then(handlers[API_FUNCTION], schedules_changed.set)
    _prepare_function_logs()
    return handlers


class _Workers:
    """What AWS runs without an HTTP call: the queues' consumers, EventBridge Scheduler's firings and the e-mail
    poller's schedule (its mailbox locks in moto's DynamoDB, like the stack's; LOCK_BACKEND=redis also works)."""

    def __init__(self, gateway: Gateway, environment: dict[str, str], schedules_changed: threading.Event) -> None:
        aws = Aws(environment["AWS_ENDPOINT_URL"], environment["AWS_DEFAULT_REGION"])
        self._pollers = {
            function: QueuePoller(
                aws.sqs(), environment[queue], _local(function), gateway.function_lock(function), function=function
            )
            for function, queue in QUEUE_CONSUMERS.items()
            if function in function_names()
        }
        self._email_every = float(environment["EMAIL_CHECK_INTERVAL"])
        self._email = _local(EMAIL_POLLER_FUNCTION) if EMAIL_POLLER_FUNCTION in function_names() else None
        self.scheduler = SchedulerEmulator(
            SchedulerApi(aws.scheduler(), environment["SCHEDULE_GROUP_NAME"]),
            {environment["CRON_FUNCTION_ARN"]: _local(CRON_FUNCTION)},
            gateway.function_lock(CRON_FUNCTION),
            wake=schedules_changed,
        )

    @property
    def dispatching(self) -> bool:
        return DISPATCH_FUNCTION in self._pollers

    @property
    def routing_github(self) -> bool:
        return "github_router" in self._pollers

    def start(self) -> dict[str, Callable[[], object]]:
        """Start them (once the gateway serves the engine stub the functions may call); their stop steps."""
        stops: dict[str, Callable[[], object]] = {"the scheduler emulator": self.scheduler.stop}
        for function, poller in self._pollers.items():
            stops[f"the {function} poller"] = poller.stop
            poller.start()
        self.scheduler.start()
        if self._email is not None:
            stops["the e-mail poller"] = every(self._email_every, EMAIL_POLLER_FUNCTION, self._email, {})
        return stops


def _local(function: str) -> LambdaHandler:
    """A function's handler as the local system runs it.

    Metrics are off locally, and Powertools then never clears what a handler added (it prints the lot every
    100 values): clearing after each invocation keeps a long `make dev` quiet and its memory flat.
    """
    from workflow_scheduler.observability import metrics

    return _then(load_handler_module(function).lambda_handler, metrics.clear_metrics)


def _then(handler: LambdaHandler, after: Callable[[], object]) -> LambdaHandler:
    """``handler``, calling ``after`` once it has returned or raised."""

    def invoke(event: dict[str, Any], context: Any) -> Any:
        try:
            return handler(event, context)
        finally:
            after()

    return invoke


def _embedded_postgres(stack: contextlib.ExitStack, budget: StopBudget, pgdata: Path) -> str:
    """pgserver's PostgreSQL on a Unix socket, data kept in the state dir; a database of our own inside.

    Stopped by its pid, never by pgserver's cleanup: that takes a lock shared by every pgserver on the machine
    (another local system starting holds it for seconds) and waits for ``pg_ctl stop`` without a limit.
    """
    from pgserver.postgres_server import get_server

    log.info("starting PostgreSQL (embedded, data in %s)", pgdata)
    pid_file = pgdata / "postmaster.pid"
    pid_before = _read(pid_file)
    try:
        server = get_server(pgdata, cleanup_mode=None)
        atexit.unregister(server._cleanup)  # the machine-wide lock again, at exit
    except BaseException:
        _stop_started_postmaster(pid_file, pid_before, budget)
        raise
    stack.callback(_stop_started_postmaster, pid_file, pid_before, budget, wait_for_pid_file=False)
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE_NAME)))
    return str(server.get_uri(DATABASE_NAME))


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _stop_started_postmaster(
    pid_file: Path, pid_before: str | None, budget: StopBudget, *, wait_for_pid_file: bool = True
) -> None:
    """Stop the PostgreSQL this start brought up, if it is still running.

    A pid file that changed during the start is the new server's; an unchanged one belongs to a server that was
    already running (another ``dev`` on the same state dir), which is left alone. A fast shutdown (SIGINT: open
    transactions are rolled back) gets what is left of the budget; then an immediate one (SIGQUIT: the next start
    recovers from the WAL), then SIGKILL.
    """
    written_by = time.monotonic() + (2 if wait_for_pid_file else 0)  # the postmaster writes it as soon as it runs
    while (content := _read(pid_file)) is None and time.monotonic() < written_by:
        time.sleep(0.1)
    if content is None or content == pid_before:
        return
    try:
        pid = int(content.split()[0])
    except (ValueError, IndexError):
        return
    log.info("stopping the embedded PostgreSQL")
    for signum, seconds in ((signal.SIGINT, budget.left(STOP_SECONDS)), (signal.SIGQUIT, 0.5), (signal.SIGKILL, 0.3)):
        if signum != signal.SIGINT:
            log.warning("PostgreSQL did not stop in time; sending %s", signum.name)
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            return
        if _wait_until_gone(pid, seconds):
            return
    log.error("PostgreSQL (pid %d) is still running", pid)


def _wait_until_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _running(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _running(pid: int) -> bool:
    """Whether the process runs (a zombie waiting for a parent that does not reap it has stopped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _aws_environment(stack: contextlib.ExitStack, budget: StopBudget) -> dict[str, str]:
    """The AWS endpoint, region and credentials the functions use."""
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or DEFAULT_REGION
    environment = {"AWS_DEFAULT_REGION": region, "AWS_REGION": region}
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    using_moto = not endpoint
    if endpoint:
        log.info("AWS endpoint %s (AWS_ENDPOINT_URL)", endpoint)
    else:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's one line per AWS call
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        stack.callback(_bounded, budget, 0.6, {"moto": moto.stop})
        moto_host, moto_port = moto.get_host_and_port()
        endpoint = f"http://{moto_host}:{moto_port}"
        log.info("AWS endpoint %s (moto)", endpoint)
    environment["AWS_ENDPOINT_URL"] = endpoint
    # Made-up credentials whenever moto answers, so real ones are never sent anywhere nor saved in the state dir.
    if using_moto or not os.environ.get("AWS_ACCESS_KEY_ID"):
        environment.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")  # noqa: S106
        os.environ.pop("AWS_SESSION_TOKEN", None)
    return environment


def _configure_logging() -> None:
    # Notices about the libraries, not about this system: pgserver's lock folder, Powertools' empty metrics.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # log lines show up at once, even through a pipe
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(_LOG_FORMAT, _TIME_FORMAT))
    # The functions' Powertools logger has its own handler; its records must not print twice.
    handler.addFilter(lambda record: not record.name.startswith("workflow_scheduler"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("local").setLevel(logging.INFO)


_QUIET_KEYS = frozenset(
    {
        "level",
        "location",
        "message",
        "timestamp",
        "service",
        "sampling_rate",
        "cold_start",
        "function_name",
        "function_memory_size",
        "function_arn",
        "function_request_id",
        "correlation_id",
        "xray_trace_id",
        "exception",
        "exception_name",
        "exception_notes",
        "stack_trace",
    }
)


def _readable_line(record: Mapping[str, object]) -> str:
    """A function's structured log record as one line in the format of the local system's own lines."""
    now = datetime.now()
    function = str(record.get("function_name") or record.get("service") or "function")
    message = record.get("message")
    fields = " ".join(
        f"{key}={value if isinstance(value, str) else json.dumps(value, default=str)}"
        for key, value in record.items()
        if key not in _QUIET_KEYS and not (key == "event" and value == message)
    )
    line = (
        f"{now:%H:%M:%S}.{now.microsecond // 1000:03d} {record.get('level', 'INFO'):<7} "
        f"{function.removeprefix('workflow-scheduler-')}: {message}{' ' + fields if fields else ''}"
    )
    return f"{line}\n{record['exception']}" if record.get("exception") else line


def _prepare_function_logs() -> None:
    """Keep the functions' logs structured, but print them as lines a person reads (JSON in AWS); keep each
    invocation's log keys and metrics to itself while functions run side by side."""
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    from workflow_scheduler.observability import logger, metrics

    formatter = logger.registered_formatter
    if isinstance(formatter, LambdaPowertoolsFormatter):
        formatter.json_serializer = _readable_line
    isolate_invocations(logger, metrics)


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):  # noqa: S104 (listening everywhere; the URLs name this machine)
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _describe_database(url: str) -> str:
    """Where the database is, without its password."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "(DATABASE_URL)"
    return f"{parts.get('host', 'localhost')}/{parts.get('dbname', '')}"


def _github_line(routing: bool, environment: dict[str, str]) -> str | None:
    """How GitHub deliveries are handled here: the secret they are signed with, and whether the App's API is used."""
    if not routing:
        return None
    secret = repr(LOCAL_GITHUB_WEBHOOK_SECRET) if "GITHUB_WEBHOOK_SECRET" in environment else "GITHUB_WEBHOOK_SECRET"
    app = os.environ.get("GITHUB_APP_ID")
    api = (
        f"App {app} at {os.environ.get('GITHUB_API_URL', 'https://api.github.com')}"
        if app and os.environ.get("GITHUB_APP_PRIVATE_KEY")
        else "no App credentials (pull request path filters are refused)"
    )
    return f"queue -> github_router, deliveries signed with {secret}; {api}"


def _banner(
    base_url: str,
    environment: dict[str, str],
    routes: list[Route],
    *,
    stub_mounted: bool,
    dispatching: bool,
    github: str | None,
    seconds: float,
) -> None:
    engine = f"{base_url}{EXECUTIONS_PATH} (engine stub)" if stub_mounted else environment["WORKFLOW_ENGINE_URL"]
    retries = (
        f"retry after {environment['DISPATCH_BACKOFF_BASE_SECONDS']} s, doubling up to"
        f" {environment['DISPATCH_BACKOFF_MAX_SECONDS']} s;"
        f" parked after {environment['DISPATCH_MAX_ATTEMPTS']} attempts"
    )
    lines = [
        f"workflow-scheduler dev: ready in {seconds:.1f} s on {base_url}",
        *(
            f"  {route.method:<11} {route.resource} -> {route.function}{' (local only)' if route.local_only else ''}"
            for route in routes
        ),
        f"  health      {base_url}/health",
        f"  swagger     {base_url}/swagger",
        f"  engine      {engine}",
        *([f"  dispatch    queue -> dispatch: {retries}"] if dispatching else []),
        *([f"  github      {github}"] if github else []),
        f"  schedules   group {environment['SCHEDULE_GROUP_NAME']} -> cron (scheduler emulator;"
        f" POST {base_url}{ADVANCE_PATH} moves its time ahead)",
        f"  e-mail      email_poller every {environment['EMAIL_CHECK_INTERVAL']} s (EMAIL_CHECK_INTERVAL);"
        f" service mailbox {os.environ.get('IMAP_SERVER') or 'none (IMAP_SERVER, EMAIL_USER, EMAIL_PASSWORD)'}",
        f"  aws         {environment['AWS_ENDPOINT_URL']}",
        f"  database    {_describe_database(environment['DATABASE_URL'])}",
        "  token       TOKEN=$(.venv/bin/workflow-scheduler token --user alice --raw)",
        f'              curl -H "Authorization: Bearer $TOKEN" {base_url}/v1/workflows/wf-1/deploy',
        "Ctrl-C stops everything.",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
