"""The one loader of the sample events in ``events/``."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[2] / "events"


@cache
def _read(function: str, name: str) -> str:
    return (EVENTS / function / f"{name}.json").read_text()


def load_event(function: str, name: str, **overrides: Any) -> dict[str, Any]:
    """A fresh copy of ``events/<function>/<name>.json``; top-level keys replaced by ``overrides``."""
    event: dict[str, Any] = json.loads(_read(function, name))
    event.update(copy.deepcopy(overrides))
    return event


def with_path(event: dict[str, Any], workflow_id: str) -> dict[str, Any]:
    """Point an API event at another workflow id (path, pathParameters and resource path stay consistent)."""
    old = (event.get("pathParameters") or {}).get("proxy", "")
    new = old.replace("wf-sample", workflow_id)
    event["path"] = event["path"].replace("wf-sample", workflow_id)
    event["pathParameters"] = {"proxy": new}
    event["requestContext"]["path"] = event["requestContext"]["path"].replace("wf-sample", workflow_id)
    return event


def with_body(event: dict[str, Any], body: Any) -> dict[str, Any]:
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    return event


def with_token(event: dict[str, Any], token: str | None) -> dict[str, Any]:
    headers = dict(event.get("headers") or {})
    headers.pop("Authorization", None)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    event["headers"] = headers
    event["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
    return event
