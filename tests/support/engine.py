"""A workflow engine on loopback for tests and benchmarks: answers each execute call by a rule and records it."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Call:
    workflow_id: str
    idempotency_key: str | None
    body: dict[str, Any]
    received_at: float = field(default_factory=time.monotonic)

    @property
    def execution_id(self) -> str:
        return str(self.body.get("execution_id"))


@dataclass(frozen=True)
class Answer:
    status: int = 202
    body: dict[str, Any] | None = None  # default: the real engine's 202 answer
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0  # longer than the caller's read timeout: a hung engine


ACCEPT = Answer()


class LoopbackEngine:
    """``POST /v1/workflows/{id}/execute`` on 127.0.0.1; ``rule`` picks the answer to each call (default: 202)."""

    def __init__(self, rule: Callable[[Call], Answer] = lambda call: ACCEPT) -> None:
        self.rule = rule
        self._lock = threading.Lock()
        self.calls: list[tuple[Call, int]] = []  # each call and the status it was answered with
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="loopback-engine", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> LoopbackEngine:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, call: Call) -> Answer:
        answer = self.rule(call)
        with self._lock:
            self.calls.append((call, answer.status))
        return answer

    def accepted(self) -> Counter[str]:
        """How many times each execution id was answered with a 2xx."""
        with self._lock:
            return Counter(call.execution_id for call, status in self.calls if 200 <= status < 300)

    def calls_for(self, execution_id: str) -> list[tuple[Call, int]]:
        with self._lock:
            return [(call, status) for call, status in self.calls if call.execution_id == execution_id]

    def forget(self) -> None:
        with self._lock:
            self.calls.clear()


def _handler_for(engine: LoopbackEngine) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like a real engine behind a load balancer
        disable_nagle_algorithm = True  # or each answer's body waits 40 ms for the ACK of its headers

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            parts = self.path.strip("/").split("/")
            if len(parts) != 4 or parts[:2] != ["v1", "workflows"] or parts[3] != "execute":
                self._send(Answer(404, {"error": "not_found", "message": self.path}))
                return
            call = Call(parts[2], self.headers.get("Idempotency-Key"), json.loads(raw or b"{}"))
            answer = engine.answer(call)
            if answer.delay_seconds:
                time.sleep(answer.delay_seconds)
            self._send(answer, call)

        def _send(self, answer: Answer, call: Call | None = None) -> None:
            body = answer.body
            if body is None:
                body = {"execution_id": call.execution_id if call else None, "status": "accepted"}
            data = json.dumps(body).encode()
            try:
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the caller gave up waiting (its read timeout) and closed the connection
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
