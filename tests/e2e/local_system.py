"""The local system (``workflow-scheduler dev``) as a subprocess, driven over HTTP like a developer would."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).parent / "workflow-scheduler"
START_TIMEOUT = 60
STOP_TIMEOUT = 15
# They point the local system at outside services; a test sets the ones it wants.
_OUTSIDE_SERVICES = ("DATABASE_URL", "AWS_ENDPOINT_URL", "WORKFLOW_ENGINE_URL", "HOST", "PORT")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalSystem:
    process: subprocess.Popen[bytes]
    base_url: str
    state_dir: Path
    log_path: Path
    env: dict[str, str]

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, pattern: str, count: int = 1, timeout: float = 5) -> list[str]:
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
            self.process.kill()
            self.process.wait()
            pytest.fail(f"the local system did not stop within {STOP_TIMEOUT} s after SIGINT:\n{self.output()}")


def start_system(state_dir: Path, **env: str) -> LocalSystem:
    """Start ``workflow-scheduler dev`` on a free port with its own state dir; return once /health answers."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if k not in _OUTSIDE_SERVICES}
    environment.update(WORKFLOW_SCHEDULER_STATE_DIR=str(state_dir), PYTHONUNBUFFERED="1", **env)
    log_path = state_dir.parent / f"{state_dir.name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(CLI), "dev", "--port", str(port)], cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
    system = LocalSystem(process, f"http://127.0.0.1:{port}", state_dir, log_path, environment)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the local system exited with {process.returncode}:\n{system.output()}")
        try:
            if requests.get(f"{system.base_url}/health", timeout=2).status_code == 200:
                return system
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.2)
    system.stop()
    pytest.fail(f"the local system did not answer /health within {START_TIMEOUT} s:\n{system.output()}")
