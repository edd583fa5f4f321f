"""Drive the API function in-process with sample events, as API Gateway would."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import jwt

from tests.support.events import load_event, with_body, with_path, with_token
from workflow_scheduler.local.invoke import LocalContext


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


class ApiClient:
    def __init__(self, handler: ModuleType, signing_key: str) -> None:
        self.handler = handler
        self.signing_key = signing_key

    def token(self, user: str = "alice", **claims: Any) -> str:
        body = {"sub": user, "exp": int(time.time()) + 300, **claims}
        return jwt.encode(body, self.signing_key, algorithm="HS256")

    def call(
        self,
        name: str,
        workflow_id: str = "wf-sample",
        body: Any = None,
        user: str | None = "alice",
        token: str | None = None,
    ) -> Reply:
        event = load_event("api", name)
        if name != "health":
            with_path(event, workflow_id)
        if body is not None:
            with_body(event, body)
        with_token(event, token if token is not None else (self.token(user) if user else None))
        result = self.handler.lambda_handler(event, LocalContext(function_name="api"))
        text = result.get("body") or ""
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            parsed = text
        headers = dict(result.get("headers") or {})
        headers.update({k: v[-1] for k, v in (result.get("multiValueHeaders") or {}).items()})
        return Reply(result["statusCode"], parsed, headers)


def deploy_body(*nodes: dict[str, Any], name: str = "wf") -> dict[str, Any]:
    return {"workflow_spec": {"name": name, "nodes": list(nodes)}}


def manual(node_id: str, **parameters: Any) -> dict[str, Any]:
    return {"id": node_id, "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_MANUAL", "parameters": parameters}


def webhook(node_id: str, **parameters: Any) -> dict[str, Any]:
    return {"id": node_id, "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_WEBHOOK", "parameters": parameters}
