"""What JSON the service accepts, on every way in: standard JSON, nested at most ``MAX_JSON_DEPTH`` levels.

One limit for specs, manual inputs and webhook bodies, so whatever is accepted at the door can always be
stored, queued and read back by the dispatcher (pydantic's JSON parser, which reads the queue message, stops
at 200 levels; the envelope around trigger data adds a few). ``NaN``, ``Infinity`` and numbers too large for
a float (``1e999``) are not JSON (RFC 8259): Python's parser accepts them and its writer turns them into
``NaN``/``Infinity`` or ``null`` downstream, silently changing what the caller sent.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_JSON_DEPTH = 64


class JsonRefused(ValueError):
    """The text is not JSON this service accepts; ``reason`` says why, in words a caller can act on."""

    def __init__(self, reason: str, *, too_deep: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.too_deep = too_deep


def _no_constant(name: str) -> Any:
    raise JsonRefused(f"{name} is not valid JSON (RFC 8259 has no NaN or Infinity)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonRefused(f"the number {text[:40]} is too large to be represented")
    return value


def json_depth_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when objects and arrays nest deeper than ``limit`` levels (iterative: no recursion limit)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def too_deep_message(limit: int = MAX_JSON_DEPTH) -> str:
    return f"the JSON nests deeper than {limit} levels of objects and arrays"


def loads_strict(text: str | bytes, limit: int = MAX_JSON_DEPTH) -> Any:
    """Parse standard JSON nested at most ``limit`` levels; raise ``JsonRefused`` (a ``ValueError``) otherwise.

    Malformed text raises ``json.JSONDecodeError`` (also a ``ValueError``), as ``json.loads`` does.
    """
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError as exc:
        raise JsonRefused(too_deep_message(limit), too_deep=True) from exc
    if json_depth_exceeds(value, limit):
        raise JsonRefused(too_deep_message(limit), too_deep=True)
    return value
