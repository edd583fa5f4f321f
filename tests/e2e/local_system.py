"""The local system (``workflow-scheduler dev``) as a subprocess, driven over HTTP like a developer would."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).parent / "workflow-scheduler"
START_TIMEOUT = 120  # a fresh clone on a busy machine: initdb, migrations, moto, the functions' cold starts
STOP_TIMEOUT = 15  # the system stops within 5 s (test_local_system_stop); fixtures allow for a busy machine
# They point the local system at outside services; a test sets the ones it wants.
_OUTSIDE_SERVICES = ("DATABASE_URL", "AWS_ENDPOINT_URL", "WORKFLOW_ENGINE_URL", "HOST", "PORT")
CREATED: list[Path] = []  # the systems' state folders, removed by the session fixture in conftest.py


@dataclass
class LocalSystem:
    process: subprocess.Popen[bytes]
    base_url: str
    state_dir: Path
    log_path: Path
    env: dict[str, str]

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, pattern: str, count: int = 1, timeout: float = 15) -> list[str]:
        """The matches of ``pattern`` in the output, once there are ``count`` (a line is logged after its response)."""
        deadline = time.monotonic() + timeout
        while len(found := re.findall(pattern, self.output())) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return found

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``workflow-scheduler ARGS`` in another terminal of the same checkout (same state dir)."""
        return subprocess.run(
            [str(CLI), *args], cwd=REPO, env=self.env, capture_output=True, text=True, timeout=60, check=False
        )

    def token(self, user: str, ttl: int | None = None) -> str:
        args = ["token", "--user", user, "--raw", *(["--ttl", str(ttl)] if ttl is not None else [])]
        done = self.cli(*args)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def running_environment(self) -> dict[str, str]:
        return dict(json.loads((self.state_dir / "dev.json").read_text())["environment"])

    def stop(self) -> int:
        """Ctrl-C; the exit status (the test fails when it takes longer than STOP_TIMEOUT)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack to the log
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            pytest.fail(f"the local system did not stop within {STOP_TIMEOUT} s after SIGINT:\n{self.output()}")


def start_system(state_dir: Path, **env: str) -> LocalSystem:
    """Start ``workflow-scheduler dev`` with its own state dir on a port it picks; return once /health answers.

    The system binds port 0 and records the URL it serves in ``dev.json`` once it is ready: no port chosen here
    can be taken by another process in between.
    """
    environment = {k: v for k, v in os.environ.items() if k not in _OUTSIDE_SERVICES}
    environment.update(
        WORKFLOW_SCHEDULER_STATE_DIR=str(private_dir(state_dir)), PYTHONUNBUFFERED="1", PYTHONFAULTHANDLER="1", **env
    )
    log_path = state_dir.parent / f"{state_dir.name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(CLI), "dev", "--port", "0"], cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
    system = LocalSystem(process, "", state_dir, log_path, environment)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the local system exited with {process.returncode}:\n{system.output()}")
        system.base_url = _ready_url(state_dir, process.pid) or ""
        try:
            if system.base_url and requests.get(f"{system.base_url}/health", timeout=5).status_code == 200:
                return system
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.2)
    system.stop()
    pytest.fail(f"the local system did not answer /health within {START_TIMEOUT} s:\n{system.output()}")


def private_dir(state_dir: Path) -> Path:
    """Where the system behind ``state_dir`` keeps its state: a folder of its own outside pytest's temporary root.

    Every pytest session that starts on the machine makes ``/tmp/pytest-of-<user>`` private again (mode 700),
    which cuts the embedded PostgreSQL's own system user off from a data folder below it. ``state_dir`` becomes a
    link to the folder (a second start behind it finds the same state); the folders go at the end of the session.
    """
    if state_dir.is_symlink():
        return state_dir.resolve()
    folder = Path(tempfile.mkdtemp(prefix="ws-e2e-"))
    CREATED.append(folder)
    state_dir.parent.mkdir(parents=True, exist_ok=True)
    state_dir.symlink_to(folder, target_is_directory=True)
    return folder


def _ready_url(state_dir: Path, pid: int) -> str | None:
    """The URL the system with this pid serves, once it has written ``dev.json`` (it replaces it atomically)."""
    try:
        recorded = json.loads((state_dir / "dev.json").read_text())
    except (OSError, ValueError):
        return None
    return str(recorded["url"]) if recorded.get("pid") == pid else None


def postmaster_running(state_dir: Path) -> bool:
    """Whether the embedded PostgreSQL of this state dir runs: a pid file can outlive a killed server."""
    try:
        pid = int((state_dir / "pgdata" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not reaped yet) has stopped
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
