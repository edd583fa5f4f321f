"""A stand-in for the workflow engine: it accepts every execute call and records it for inspection.

Mounted on the local gateway under ``/_local`` when ``WORKFLOW_ENGINE_URL`` is not set:

- ``POST /_local/engine/v1/workflows/{workflow_id}/execute``: the engine's execute call; 202
  ``{"execution_id", "status": "accepted"}``.
- ``GET /_local/executions``: ``{"executions": [request bodies, in arrival order]}``.
- ``DELETE /_local/executions``: forget them.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from workflow_scheduler.local.gateway import LocalRequest, LocalResponse, json_response

BASE_PATH = "/_local/engine"
EXECUTIONS_PATH = "/_local/executions"
_EXECUTE = re.compile(rf"{BASE_PATH}/v1/workflows/(?P<workflow_id>[^/]+)/execute")

TARGET = "engine stub"  # who answered, in the access log

log = logging.getLogger("local.engine")


@dataclass(frozen=True)
class ExecuteCall:
    workflow_id: str
    idempotency_key: str | None
    body: dict[str, Any]


class EngineStub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[ExecuteCall] = []

    @property
    def calls(self) -> list[ExecuteCall]:
        with self._lock:
            return list(self._calls)

    def handle(self, request: LocalRequest) -> LocalResponse | None:
        """The stub's answer, or None when the request is not for the stub."""
        if request.path == EXECUTIONS_PATH:
            if request.method == "GET":
                return json_response(HTTPStatus.OK, {"executions": [call.body for call in self.calls]}, TARGET)
            if request.method == "DELETE":
                with self._lock:
                    cleared = len(self._calls)
                    self._calls.clear()
                return json_response(HTTPStatus.OK, {"cleared": cleared}, TARGET)
            return None
        execute = _EXECUTE.fullmatch(request.path)
        if execute is not None and request.method == "POST":
            return self._execute(unquote(execute.group("workflow_id")), request)
        return None

    def _execute(self, workflow_id: str, request: LocalRequest) -> LocalResponse:
        try:
            body = json.loads(request.body or b"")
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            message = "the body must be a JSON object"
            return json_response(HTTPStatus.BAD_REQUEST, {"error": "validation_error", "message": message}, TARGET)
        key = request.header("Idempotency-Key")
        call = ExecuteCall(workflow_id, key, body)
        with self._lock:
            self._calls.append(call)
        execution_id = body.get("execution_id") or str(uuid.uuid4())
        log.info("execute %s execution_id=%s idempotency_key=%s", workflow_id, execution_id, key)
        # The stub accepts what the real engine might refuse; say so where the developer looks.
        if key is None or key != body.get("execution_id"):
            log.warning("the Idempotency-Key header should be the body's execution_id (contract)")
        if body.get("workflow_id") != workflow_id:
            log.warning("the body's workflow_id %r differs from the URL's %r", body.get("workflow_id"), workflow_id)
        return json_response(HTTPStatus.ACCEPTED, {"execution_id": execution_id, "status": "accepted"}, TARGET)
