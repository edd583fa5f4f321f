"""A function run on a timer, in-process: the local twin of a scheduled run (the deployed stack's daily rules)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from workflow_scheduler.local.invoke import LocalContext

if TYPE_CHECKING:
    from workflow_scheduler.local.gateway import LambdaHandler

log = logging.getLogger("local.periodic")


def every(seconds: float, function: str, handler: LambdaHandler, event: dict[str, Any]) -> Callable[[], None]:
    """Invoke ``handler`` with ``event`` now and then every ``seconds`` on a daemon thread; returns its stop."""
    stopping = threading.Event()

    def run() -> None:
        while True:
            try:
                handler(event, LocalContext(function_name=f"workflow-scheduler-{function}"))  # it logs its result
            except Exception:  # the next run tries again, as the deployed schedule would
                log.exception("the %s function failed", function)
            if stopping.wait(seconds):
                return

    threading.Thread(target=run, name=f"{function}-timer", daemon=True).start()
    return stopping.set
