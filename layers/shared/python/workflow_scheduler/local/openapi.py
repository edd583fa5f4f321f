"""The OpenAPI 3.1 document of the HTTP API, generated from the API function's routes."""

from __future__ import annotations

import os

from workflow_scheduler.local.functions import load_handler_module

# Importing the handler reads its settings; no connection is made at import, so placeholders do.
_PLACEHOLDER_SETTINGS = {
    "DATABASE_URL": "postgresql://unused/unused",
    "JWT_SECRET_ARN": "unused",
    "DISPATCH_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/unused",
}


def openapi_document() -> str:
    """Title, version, security and every route's responses are declared with the routes (``configure_openapi``)."""
    for key, value in _PLACEHOLDER_SETTINGS.items():
        os.environ.setdefault(key, value)
    return str(load_handler_module("api").app.get_openapi_json_schema())
