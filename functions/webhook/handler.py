"""The webhook function: ``ANY /webhook/{path+}``, public; each trigger checks its own auth (docs/webhooks.md)."""

from __future__ import annotations

import base64
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from workflow_scheduler.domain.errors import DomainError
from workflow_scheduler.domain.models import TriggerType
from workflow_scheduler.domain.triggers.webhook.firing import WebhookRequest
from workflow_scheduler.http import describe_error, proxy_response
from workflow_scheduler.observability import log_event, logger, metrics, tracer
from workflow_scheduler.settings import WebhookSettings
from workflow_scheduler.wiring import webhook_firing

firing = webhook_firing(WebhookSettings.from_environment())


def to_request(event: APIGatewayProxyEvent) -> WebhookRequest:
    raw = event.body or ""
    body = base64.b64decode(raw) if event.is_base64_encoded else raw.encode()
    headers = {k.lower(): v for k, v in (event.headers or {}).items()}
    query = {k: list(v) for k, v in (event.multi_value_query_string_parameters or {}).items()}
    return WebhookRequest(
        method=event.http_method.upper(),
        path=event.path,
        headers=headers,
        query=query,
        body=body,
        source_ip=event.request_context.identity.source_ip,
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = to_request(APIGatewayProxyEvent(event))
    try:
        outcome = firing.fire(request)
    except DomainError as exc:
        status, body, headers = describe_error(exc, bearer=False)
        log_event("webhook_refused", trigger_type=TriggerType.WEBHOOK.value, path=request.path, status=exc.code)
        return proxy_response(status, body, headers)
    log_event(
        "trigger_fired",
        trigger_type=TriggerType.WEBHOOK.value,
        path=request.path,
        execution_id=outcome.execution_id,
        status=outcome.status.value,
    )
    metrics.add_metric(name="Firings", unit=MetricUnit.Count, value=1)
    return proxy_response(HTTPStatus.ACCEPTED, {"status": "accepted", "execution_id": outcome.execution_id})
