"""Drive the webhook function in-process with its sample events, as API Gateway would, and sign what callers send."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from tests.support.api import Reply, webhook
from tests.support.events import load_event
from workflow_scheduler.local.invoke import LocalContext


def call_webhook(
    function: ModuleType,
    path: str,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    *,
    method: str | None = None,
    sample: str = "json",
) -> Reply:
    """The webhook function's answer to ``events/webhook/<sample>.json`` sent to ``path``, with ``headers`` added
    to the sample's, and ``method`` and ``body`` (base64, as API Gateway passes a binary body) instead of its own."""
    event = load_event("webhook", sample)
    event["path"] = path
    if method is not None:
        event["httpMethod"] = method
    event["headers"] = {**(event["headers"] or {}), **(headers or {})}
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    if body is not None:
        event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    result = function.lambda_handler(event, LocalContext(function_name="webhook"))
    return Reply(result["statusCode"], json.loads(result["body"]), dict(result.get("headers") or {}))


def hmac_signature(key: str, message: bytes) -> str:
    """What an ``hmac_sha256`` webhook trigger expects in its header: ``sha256=`` and the hex digest."""
    return "sha256=" + hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def signed_webhook(node_id: str, path: str, **auth: Any) -> dict[str, Any]:
    """A webhook trigger on ``path`` that checks an ``hmac_sha256`` signature in ``X-Signature``."""
    return webhook(node_id, webhook_path=path, auth={"type": "hmac_sha256", "header": "X-Signature", **auth})


def call_signed(function: ModuleType, path: str, key: str) -> Reply:
    """A call to a ``signed_webhook`` with a body of its own (so that no two calls are one execution), signed with
    ``key``."""
    body = json.dumps({"n": secrets.token_hex(4)}).encode()
    return call_webhook(function, path, {"X-Signature": hmac_signature(key, body)}, body)
