"""Run a function's handler in-process, as Lambda would: the Docker-free ``sam local invoke``."""

from __future__ import annotations

import contextlib
import copy
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any

from workflow_scheduler.local.functions import load_handler_module
from workflow_scheduler.local.state import mint_token


@dataclass
class LocalContext:
    """The parts of the Lambda context object that Powertools and the handlers read."""

    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = "local"
    log_stream_name: str = "local"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def invoke(function: str, event: dict[str, Any], *, user: str | None = None) -> Any:
    if user is not None:
        event = copy.deepcopy(event)
        token, _ = mint_token(user)
        headers = event.get("headers") or {}
        headers["Authorization"] = f"Bearer {token}"
        event["headers"] = headers
        if event.get("multiValueHeaders") is not None:
            event["multiValueHeaders"]["Authorization"] = [headers["Authorization"]]
    # Like `sam local invoke`: the function's logs (Powertools writes to stdout) go to stderr, and stdout
    # carries only the result the caller prints.
    with contextlib.redirect_stdout(sys.stderr):
        handler = load_handler_module(function).lambda_handler
        return handler(event, LocalContext(function_name=f"workflow-scheduler-{function}"))
