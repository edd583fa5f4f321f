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
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse, OpenAPIResponseHeader
from pydantic import BaseModel, ConfigDict, Field

from workflow_scheduler.domain import errors
from workflow_scheduler.domain.json_limits import JsonRefused, loads_strict
from workflow_scheduler.domain.storable import field_path, first_unstorable, unstorable_reason
from workflow_scheduler.observability import logger

# Only the bases: every domain error derives from one of them (a bare DomainError is a 400).
STATUS_OF: dict[type[errors.DomainError], HTTPStatus] = {
    errors.Invalid: HTTPStatus.UNPROCESSABLE_ENTITY,
    errors.TooLarge: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    errors.Unauthorized: HTTPStatus.UNAUTHORIZED,
    errors.Forbidden: HTTPStatus.FORBIDDEN,
    errors.NotFound: HTTPStatus.NOT_FOUND,
    errors.Refused: HTTPStatus.METHOD_NOT_ALLOWED,
    errors.Conflict: HTTPStatus.CONFLICT,
    errors.Unavailable: HTTPStatus.SERVICE_UNAVAILABLE,
}
BEARER_CHALLENGE = 'Bearer error="invalid_token"'


class ProblemBody(BaseModel):
    field: str = Field(description="where: a dotted path into the request")
    message: str
    node_id: str | None = Field(default=None, description="the spec node the problem is in")


class ErrorBody(BaseModel):
    """Every error the API answers: a stable code, a message for people, and for validation the problems."""

    model_config = ConfigDict(extra="allow", title="Error")

    error: str = Field(description="stable error code, e.g. validation_error, not_found, unauthorized")
    message: str
    problems: list[ProblemBody] | None = Field(default=None, description="validation errors: every problem found")


_WHEN: dict[int, str] = {
    401: "missing, expired or invalid bearer token",
    403: "the trigger asks for confirmation and the call did not confirm",
    404: "no such workflow deployed for the caller (or no such trigger)",
    409: "conflict: the workflow id or webhook path belongs to another workflow, or the workflow is paused",
    413: "the request body is too large for the function",
    415: "the body is not JSON (send Content-Type: application/json)",
    422: "the request is invalid; problems lists every problem with its field",
    503: "a backing service is unavailable; retry later",
}


# What the deployed stack answers on every route before any function runs (infra_cdk/functions/api.py: the WAF's
# rules and API Gateway's gateway responses, all in the error shape; docs/deploy.md "Rate limits").
_BEFORE_THE_FUNCTION: dict[int, str] = {
    403: "the WAF's managed rules blocked the request (error forbidden)",
    413: "the request body is over API Gateway's 10 MB (error payload_too_large)",
    429: "too many requests: over a per-caller rate limit of the WAF (error too_many_requests, with Retry-After)"
    " or over the stage's throttling (error throttled)",
}
_RETRY_AFTER: OpenAPIResponseHeader = {
    "description": "seconds to wait before retrying: the rate limits' window (sent with too_many_requests)",
    "schema": {"type": "integer"},
}


def documented(
    ok: str, view: type[BaseModel], *statuses: int, links: dict[str, Any] | None = None
) -> dict[int, OpenAPIResponse]:
    """The OpenAPI responses of a route: its 200 (``view``, with its links), the error statuses it can answer, and
    those the stack answers before it runs."""
    success: OpenAPIResponse = {"description": ok, "content": {content_types.APPLICATION_JSON: {"model": view}}}
    if links:
        success["links"] = links
    out: dict[int, OpenAPIResponse] = {200: success}
    for status in sorted({*statuses, *_BEFORE_THE_FUNCTION}):
        causes = [_WHEN[status]] if status in statuses else []
        causes += [_BEFORE_THE_FUNCTION[status]] if status in _BEFORE_THE_FUNCTION else []
        out[status] = {
            "description": "; or ".join(causes),
            "content": {content_types.APPLICATION_JSON: {"model": ErrorBody}},
        }
    if 401 in out:
        out[401]["headers"] = {"WWW-Authenticate": {"description": BEARER_CHALLENGE, "schema": {"type": "string"}}}
    out[429]["headers"] = {"Retry-After": _RETRY_AFTER}
    return out


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
    body: dict[str, Any] = {"error": exc.code, "message": exc.message, **exc.extra_body()}
    headers = exc.headers()
    if isinstance(exc, errors.Unauthorized) and bearer:
        headers.setdefault("WWW-Authenticate", BEARER_CHALLENGE)  # unless the error names its own scheme
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
    # Built from the caller's keys: sanitized and truncated, so a key never carries the body back.
    if len(loc) > 1 and loc[0] == "body":
        return field_path(tuple(loc[1:]), root="")
    return field_path(tuple(loc), root="")


def _problem_of(err: dict[str, Any]) -> dict[str, str]:
    if err.get("type") == "json_invalid":
        return {"field": "body", "message": "the body is not valid JSON"}
    # Request-level fields are few and known: never quote what was sent for them.
    message = errors.safe_message(str(err.get("msg", err.get("type"))), err.get("input"), secret=True)
    return {"field": _field_of(tuple(err.get("loc", ()))), "message": message}


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
        problems = [_problem_of(err) for err in exc.errors()]
        message = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5])
        return error_response(HTTPStatus.UNPROCESSABLE_ENTITY, "validation_error", message, problems=problems)

    @app.exception_handler(RequestUnsupportedContentType)
    def _media_type(exc: RequestUnsupportedContentType) -> Response[str]:
        return error_response(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", JSON_ONLY)

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


JSON_ONLY = "the body must be JSON: send 'Content-Type: application/json' (UTF-8)"


def is_json_media_type(content_type: str | None) -> bool:
    """``application/json`` or any ``+json`` type, case-insensitively, with no charset but UTF-8 (RFC 8259)."""
    if content_type is None or not content_type.strip():
        return True  # no declared type: read it as JSON, as API Gateway's default mapping does
    media, *params = (part.strip().lower() for part in content_type.split(";"))
    kind, _, subtype = media.partition("/")
    if kind != "application" or not (subtype == "json" or subtype.endswith("+json")):
        return False
    charsets = [p.partition("=")[2].strip().strip('"') for p in params if p.partition("=")[0].strip() == "charset"]
    return all(charset in ("utf-8", "utf8") for charset in charsets)


def _header(headers: dict[str, Any] | None, name: str) -> str | None:
    return next((str(v) for k, v in (headers or {}).items() if k.lower() == name), None)


def refuse_request(event: dict[str, Any], body: bytes) -> dict[str, Any] | None:
    """Refusals made before the resolver runs: a POST or PUT body not declared JSON (415), a query or path
    parameter that cannot be stored (422). A JSON body's content type is normalized, so the resolver reads
    ``Application/JSON`` or ``application/vnd.api+json`` as the JSON it is."""
    params = {
        **(event.get("pathParameters") or {}),
        **{k: ",".join(v) for k, v in (event.get("multiValueQueryStringParameters") or {}).items() if v},
        **(event.get("queryStringParameters") or {}),
    }
    for name, value in params.items():
        reason = unstorable_reason(f"{name}{value}")
        if reason:
            field = field_path((name,), root="")
            problems = [{"field": field, "message": reason}]
            return proxy_response(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                {"error": "validation_error", "message": f"{field}: {reason}", "problems": problems},
            )
    # Only POST and PUT routes read a body; elsewhere one is ignored, whatever its type.
    if not body or event.get("httpMethod") not in ("POST", "PUT", "PATCH"):
        return None
    if not is_json_media_type(_header(event.get("headers"), "content-type")):
        return proxy_error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", JSON_ONLY)
    for key in ("headers", "multiValueHeaders"):
        if event.get(key) is not None:
            kept = {k: v for k, v in event[key].items() if k.lower() != "content-type"}
            kept["Content-Type"] = (
                [content_types.APPLICATION_JSON] if key == "multiValueHeaders" else content_types.APPLICATION_JSON
            )
            event[key] = kept
    return None


def strict_json_body(text: str) -> Any:
    """The resolver's one parse of a JSON body: standard JSON within the depth limit, every string storable.

    Malformed text raises ``json.JSONDecodeError`` as ``json.loads`` does (the resolver reports it); the rest
    is ``SpecInvalid`` naming the problem."""
    try:
        value = loads_strict(text)
    except json.JSONDecodeError:
        raise
    except JsonRefused as exc:
        raise errors.SpecInvalid([errors.Problem("body", exc.reason)], what="the request body") from exc
    unstorable = first_unstorable(value, root="")
    if unstorable:
        raise errors.SpecInvalid([errors.Problem(*unstorable)], what="the request body")
    return value


def raw_body(event: dict[str, Any]) -> bytes:
    """A proxy event's body as the caller sent it (API Gateway passes every body base64-encoded here)."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body, validate=False)
    return body.encode()
