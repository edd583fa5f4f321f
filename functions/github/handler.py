"""The github function: ``POST /webhooks/github``, a GitHub App's deliveries (issue 9).

It verifies the signature over the raw body, records the delivery and queues it for the router, then answers
202; ping is 200, a delivery seen before 200. Matching, GitHub API calls and firing happen in the router.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from workflow_scheduler.domain.errors import DomainError
from workflow_scheduler.domain.triggers.github.ingress import DELIVERY_HEADER, EVENT_HEADER, GithubRequest, ReceiptKind
from workflow_scheduler.http import describe_error, proxy_response, raw_body
from workflow_scheduler.observability import log_event, logger, metrics, tracer
from workflow_scheduler.settings import GithubWebhookSettings
from workflow_scheduler.wiring import github_ingress

ingress = github_ingress(GithubWebhookSettings.from_environment())

_STATUS = {
    ReceiptKind.PONG: HTTPStatus.OK,
    ReceiptKind.DUPLICATE: HTTPStatus.OK,
    ReceiptKind.ACCEPTED: HTTPStatus.ACCEPTED,
    ReceiptKind.RECORDED: HTTPStatus.ACCEPTED,
}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = GithubRequest({k.lower(): v for k, v in (event.get("headers") or {}).items()}, raw_body(event))
    try:
        receipt = ingress.receive(request)
    except DomainError as exc:
        status, body, headers = describe_error(exc, bearer=False)
        log_event(
            "github_delivery_refused",
            status=exc.code,
            delivery_id=request.header(DELIVERY_HEADER),
            github_event=request.header(EVENT_HEADER),
        )
        metrics.add_metric(name="GithubDeliveriesRefused", unit=MetricUnit.Count, value=1)
        return proxy_response(status, body, headers)
    log_event(
        "github_delivery_received",
        status=receipt.kind.value,
        delivery_id=receipt.delivery_id,
        github_event=receipt.event,
    )
    metrics.add_metric(name="GithubDeliveries", unit=MetricUnit.Count, value=1)
    answer = {"status": receipt.kind.value, "delivery_id": receipt.delivery_id}
    return proxy_response(_STATUS[receipt.kind], answer | ({"note": receipt.note} if receipt.note else {}))
