"""The OpenAPI 3.1 document of the HTTP API, generated from the API function's routes."""

from __future__ import annotations

import os

from workflow_scheduler.local.functions import load_handler_module

TITLE = "workflow_scheduler"
VERSION = "1.0.0"
# Importing the handler reads its settings; no connection is made at import, so placeholders do.
_PLACEHOLDER_SETTINGS = {
    "DATABASE_URL": "postgresql://unused/unused",
    "JWT_SECRET_ARN": "unused",
    "DISPATCH_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/unused",
}


def openapi_document() -> str:
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    for key, value in _PLACEHOLDER_SETTINGS.items():
        os.environ.setdefault(key, value)
    app = load_handler_module("api").app
    return str(
        app.get_openapi_json_schema(
            title=TITLE,
            version=VERSION,
            description="Deploy workflows and manage their triggers. /v1 routes take 'Authorization: Bearer <JWT>'.",
            security_schemes={"bearerAuth": HTTPBearer(bearerFormat="JWT")},
            security=[{"bearerAuth": []}],
        )
    )
