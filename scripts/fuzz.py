"""`make fuzz`: schemathesis over docs/openapi.json against a fresh local system.

Starts `workflow-scheduler dev` on a free port with its own state dir (so its own embedded PostgreSQL and moto:
nothing left from earlier runs), runs every phase (examples, coverage, fuzzing, stateful) with a fixed seed,
prints the figures and stops the system. Exit status: schemathesis's (0 when no check failed).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"
SEED = os.environ.get("FUZZ_SEED", "7")
MAX_EXAMPLES = os.environ.get("FUZZ_MAX_EXAMPLES", "25")
START_TIMEOUT = 90
RUN_TIMEOUT = 420  # a hard stop far above the minute a run takes, so a hang cannot block `make test`
STOP_TIMEOUT = 20
# They would point the local system at outside services; the fuzzer gets a system of its own.
OUTSIDE = ("DATABASE_URL", "AWS_ENDPOINT_URL", "WORKFLOW_ENGINE_URL", "HOST", "PORT")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"fuzz: the local system exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{base_url}/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    sys.exit(f"fuzz: the local system did not answer /health within {START_TIMEOUT} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def figures(report: dict[str, object]) -> str:
    cases = report.get("test_cases")
    cases = cases if isinstance(cases, dict) else {}
    phases = report.get("phases")
    phases = phases if isinstance(phases, dict) else {}
    phase_text = ", ".join(f"{name} {info.get('status')}" for name, info in phases.items() if isinstance(info, dict))
    failed_checks = sum(int(f.get("count", 0)) for f in report.get("failures") or [] if isinstance(f, dict))
    errors = report.get("errors")
    errors = errors if isinstance(errors, list) else []
    return (
        f"fuzz: {cases.get('generated', 0)} cases run, {cases.get('with_failures', 0)} failed"
        f" ({failed_checks} check failures, {cases.get('unique_failures', 0)} unique), {len(errors)} errors;"
        f" phases: {phase_text}; seed {report.get('seed')}; {float(str(report.get('running_time', 0))):.0f} s"
    )


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="ws-fuzz-"))
    state_dir, log_path, report_path = work / "state", work / "dev.log", work / "report.json"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in OUTSIDE}
    env.update(WORKFLOW_SCHEDULER_STATE_DIR=str(state_dir), PYTHONUNBUFFERED="1")
    cli = str(BIN / "workflow-scheduler")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [cli, "dev", "--port", str(port)], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_healthy(base_url, process, log_path)
        token = subprocess.run(
            [cli, "token", "--user", "fuzzer", "--raw"], cwd=REPO, env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        command = [
            str(BIN / "schemathesis"),
            "--no-color",
            "run",
            str(REPO / "docs" / "openapi.json"),
            "--url",
            base_url,
            "-H",
            f"Authorization: Bearer {token}",
            "--checks",
            CHECKS,
            "--max-examples",
            MAX_EXAMPLES,
            "--seed",
            SEED,
            "--workers",
            "1",
            "--report",
            "json",
            "--report-json-path",
            str(report_path),
        ]
        try:
            # cwd: schemathesis keeps its example database there; it goes with the rest of the run.
            status = subprocess.run(command, cwd=work, timeout=RUN_TIMEOUT, check=False).returncode
        except subprocess.TimeoutExpired:
            print(f"fuzz: schemathesis did not finish within {RUN_TIMEOUT} s", file=sys.stderr)
            return 1
        if not report_path.exists():
            print("fuzz: schemathesis wrote no report", file=sys.stderr)
            return status or 1
        print(figures(json.loads(report_path.read_text())))
        return status
    finally:
        stop(process)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
