"""HTTP shaping shared by the API-facing functions: every domain error becomes a response in one place.

Errors are ``{"error": code, "message": text}`` (plus ``problems`` for validation); client mistakes are
4xx, outages 503, bugs 500. Details of a bug are logged, never returned.
"""

from __future__ import annotations

import base64
import json
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from workflow_scheduler.domain import errors, firing, manual, webhook
from workflow_scheduler.observability import logger

STATUS_OF: dict[type[errors.DomainError], HTTPStatus] = {
    errors.SpecInvalid: HTTPStatus.UNPROCESSABLE_ENTITY,
    errors.TriggerTypeUnavailable: HTTPStatus.UNPROCESSABLE_ENTITY,
    errors.TooManyTriggers: HTTPStatus.UNPROCESSABLE_ENTITY,
    errors.PayloadTooLarge: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    errors.DeploymentNotFound: HTTPStatus.NOT_FOUND,
    errors.WorkflowIdTaken: HTTPStatus.CONFLICT,
    errors.WebhookPathTaken: HTTPStatus.CONFLICT,
    errors.Unauthorized: HTTPStatus.UNAUTHORIZED,
    errors.StoreUnavailable: HTTPStatus.SERVICE_UNAVAILABLE,
    errors.RegistrationFailed: HTTPStatus.SERVICE_UNAVAILABLE,
    firing.WorkflowPaused: HTTPStatus.CONFLICT,
    firing.DispatchUnavailable: HTTPStatus.SERVICE_UNAVAILABLE,
    manual.ConfirmationRequired: HTTPStatus.FORBIDDEN,
    manual.NoManualTrigger: HTTPStatus.NOT_FOUND,
    webhook.WebhookNotFound: HTTPStatus.NOT_FOUND,
    webhook.MethodNotAllowed: HTTPStatus.METHOD_NOT_ALLOWED,
    errors.SecretUnavailable: HTTPStatus.SERVICE_UNAVAILABLE,
}


def error_response(
    status: HTTPStatus, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response[str]:
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"error": code, "message": message, **extra}),
        headers=headers,
    )


def _status_of(exc: errors.DomainError) -> HTTPStatus:
    for cls in type(exc).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return HTTPStatus.BAD_REQUEST


def describe_error(exc: errors.DomainError, bearer: bool = True) -> tuple[HTTPStatus, dict[str, Any], dict[str, str]]:
    """Status, JSON body and headers for a domain error: the one mapping every handler uses."""
    status = _status_of(exc)
    body: dict[str, Any] = {"error": exc.code, "message": exc.message}
    headers: dict[str, str] = {}
    if isinstance(exc, errors.SpecInvalid | errors.TriggerTypeUnavailable):
        body["problems"] = [p.as_dict() for p in exc.problems]
    if isinstance(exc, manual.ConfirmationRequired):
        body["status"] = exc.code  # the seed's answer: {"status": "confirmation_required", "message"}
    if isinstance(exc, webhook.MethodNotAllowed):
        headers["Allow"] = ", ".join(exc.allowed)
    if isinstance(exc, webhook.BasicAuthRequired):
        headers["WWW-Authenticate"] = exc.challenge
    elif isinstance(exc, errors.Unauthorized) and bearer:
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        logger.warning("request failed: backing service unavailable", extra={"error": exc.code})
    return status, body, headers


def proxy_response(status: HTTPStatus, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A complete API Gateway proxy response, for handlers that do not use the resolver."""
    return {
        "statusCode": status.value,
        "headers": {"Content-Type": content_types.APPLICATION_JSON, **(headers or {})},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def _field_of(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if p != "body"] if len(loc) > 1 else [str(p) for p in loc]
    return ".".join(parts) or "body"


def register_error_handlers(app: APIGatewayRestResolver) -> None:
    @app.exception_handler(errors.DomainError)
    def _domain(exc: errors.DomainError) -> Response[str]:
        status, body, headers = describe_error(exc)
        return Response(
            status_code=status.value,
            content_type=content_types.APPLICATION_JSON,
            body=json.dumps(body),
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response[str]:
        problems = []
        for err in exc.errors():
            loc = tuple(err.get("loc", ()))
            if err.get("type") == "json_invalid":
                problems.append({"field": "body", "message": "the body is not valid JSON"})
            else:
                problems.append({"field": _field_of(loc), "message": str(err.get("msg", err.get("type")))})
        message = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        return error_response(HTTPStatus.UNPROCESSABLE_ENTITY, "validation_error", message, problems=problems)

    @app.not_found
    def _not_found(exc: NotFoundError) -> Response[str]:
        return error_response(HTTPStatus.NOT_FOUND, "not_found", "no such route")

    @app.exception_handler(Exception)
    def _bug(exc: Exception) -> Response[str]:
        logger.exception("unhandled error")
        return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", "internal error; it has been logged")


def proxy_error(status: HTTPStatus, code: str, message: str) -> dict[str, Any]:
    """An error as a complete proxy response, for refusals made before the resolver runs."""
    return proxy_response(status, {"error": code, "message": message})


def raw_body(event: dict[str, Any]) -> bytes:
    """A proxy event's body as the caller sent it (API Gateway passes every body base64-encoded here)."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body, validate=False)
    return body.encode()
