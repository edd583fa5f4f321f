"""Functions side by side in one process: Powertools' per-invocation state, kept per thread.

In AWS each function runs in its own processes, one event at a time, so Powertools keeps an invocation's log keys
(function name, request and correlation ids, the user) and its metrics in process-wide objects. Locally the
functions share one process and different functions run at the same time, each invocation on its own thread
(a gateway connection, the dispatch poller, the scheduler emulator): with that state per thread, one function's
keys never land in another's log lines, and clearing one function's metrics never touches another's.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from aws_lambda_powertools import Logger, Metrics

# What Powertools keeps of one invocation: the Logger formatter's keys, the Metrics provider's sets.
_LOGGER_STATE = ("log_format",)
_METRICS_STATE = ("metric_set", "dimension_set", "dimension_sets", "metadata_set", "timestamp")


def per_thread(target: object, *names: str) -> None:
    """Give ``target`` one value of each attribute per thread; a thread starts from a copy of the current value.

    The attributes become properties of a subclass made for ``target`` alone, so the methods that read and
    reassign them (``clear_state``, ``clear_metrics``, ...) work unchanged, on the calling thread's value.
    """
    initial = {name: target.__dict__.pop(name) for name in names}
    values = threading.local()

    def attribute(name: str) -> property:
        def get(_: object) -> Any:
            try:
                return getattr(values, name)
            except AttributeError:
                value = copy.copy(initial[name])
                setattr(values, name, value)
                return value

        def set_(_: object, value: Any) -> None:
            setattr(values, name, value)

        return property(get, set_)

    cls = type(target)
    target.__class__ = type(f"PerThread{cls.__name__}", (cls,), {name: attribute(name) for name in names})


def isolate_invocations(logger: Logger, metrics: Metrics) -> None:
    """Make the functions' shared Logger and Metrics safe for invocations running side by side."""
    per_thread(logger.registered_formatter, *_LOGGER_STATE)
    per_thread(metrics.provider, *_METRICS_STATE)
