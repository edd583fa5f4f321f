"""The API function: deploy, status, triggers, pause, resume, manual runs and firing history (/v1), and /health."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.event_handler.request import Request
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from workflow_scheduler.adapters.tokens import TokenVerifier
from workflow_scheduler.api_views import (
    CronPreviewView,
    DeployedView,
    DeploymentView,
    EventsView,
    HealthView,
    ManualRunView,
    StatusView,
    TriggersView,
    UndeployedView,
)
from workflow_scheduler.domain.errors import PayloadTooLarge, Problem, SpecInvalid, StoreUnavailable
from workflow_scheduler.domain.history import MAX_PAGE
from workflow_scheduler.domain.models import (
    WORKFLOW_ID_PATTERN,
    Deployment,
    DeploymentResult,
    TriggerRecord,
    TriggerType,
)
from workflow_scheduler.domain.spec_schema import WorkflowSpecBody
from workflow_scheduler.domain.triggers.cron.errors import CronError
from workflow_scheduler.domain.triggers.cron.preview import MAX_PREVIEW_COUNT, preview
from workflow_scheduler.domain.triggers.cron.translate import translate
from workflow_scheduler.domain.triggers.manual.firing import ManualRequest
from workflow_scheduler.http import (
    documented,
    proxy_error,
    raw_body,
    refuse_request,
    register_error_handlers,
    strict_json_body,
)
from workflow_scheduler.observability import log_event, logger, metrics, tracer
from workflow_scheduler.settings import ApiSettings
from workflow_scheduler.wiring import api_services

settings = ApiSettings.from_environment()
services = api_services(settings)
database = services.database
deployments = services.deployments
manual = services.manual
firing_history = services.history
verifier = TokenVerifier(settings)

app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=strict_json_body)
register_error_handlers(app)
app.configure_openapi(
    title="workflow_scheduler",
    version="1.0.0",
    description="Deploy workflows and manage their triggers. /v1 routes take 'Authorization: Bearer <JWT>'.",
    security_schemes={"bearerAuth": HTTPBearer(bearerFormat="JWT", description="Authorization: Bearer <JWT>")},
)
# Served by the local gateway; API Gateway in AWS routes only /health and /v1.
app.enable_swagger(path="/swagger", title="workflow_scheduler")
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]
# Every /v1 route: a token (401), a path that names no route or no workflow of the caller's (404), a checked
# path or query (422), the database or the token key (503), and a body, if one is sent, that is too large (413).
V1 = (401, 404, 413, 422, 503)
# What a client (or a stateful fuzzer) can do next with a workflow it deployed.
DEPLOYED_LINKS = {
    name: {"operationId": name, "parameters": {"workflow_id": "$response.body#/workflow_id"}}
    for name in ("status", "triggers", "events", "pause", "resume", "run_manually", "update", "undeploy")
}

WorkflowId = Annotated[str, Path(pattern=WORKFLOW_ID_PATTERN, max_length=128, description="the workflow's id")]


def current_user(request: Request) -> str:
    user = verifier.user_of(request.headers.get("Authorization") or request.headers.get("authorization"))
    logger.append_keys(user_id=user)
    return user


User = Annotated[str, Depends(current_user)]


class DeployRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    workflow_spec: WorkflowSpecBody


class ManualRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    confirmation: bool = Field(default=False, description="required when the trigger asks for confirmation")
    inputs: dict[str, Any] = Field(default_factory=dict, description="passed to the workflow as trigger data")
    trigger_id: str | None = Field(
        default=None, max_length=128, description="which manual trigger, when there are several"
    )


def base_url() -> str:
    if settings.public_base_url:
        return settings.public_base_url
    context = app.current_event.request_context
    return f"https://{context.domain_name}/{context.stage}"


def _triggers_view(records: list[TriggerRecord]) -> list[dict[str, Any]]:
    url = base_url()
    return [deployments.triggers.describe(record, url) for record in records]


def _deployment_view(deployment: Deployment, records: list[TriggerRecord]) -> dict[str, Any]:
    return {
        "workflow_id": deployment.workflow_id,
        "deployment_id": deployment.deployment_id,
        "status": deployment.status.value,
        "version": deployment.version,
        "created_at": deployment.created_at.isoformat(),
        "updated_at": deployment.updated_at.isoformat(),
        "triggers": _triggers_view(records),
    }


def _deployed(result: DeploymentResult, action: str) -> dict[str, Any]:
    d = result.deployment
    log_event(
        f"workflow_{action}",
        workflow_id=d.workflow_id,
        version=d.version,
        status="changed" if result.changed else "unchanged",
    )
    if result.changed:
        metrics.add_metric(name="Deployments", unit=MetricUnit.Count, value=1)
    return {**_deployment_view(d, result.triggers), "changed": result.changed}


HEALTH_DOWN: OpenAPIResponse = {
    "description": "the database is unavailable",
    "content": {"application/json": {"model": HealthView}},
}


@app.get(
    "/health",
    operation_id="health",
    responses={**documented("the service and its database are up", HealthView, 413), 503: HEALTH_DOWN},
)
def health() -> Response[dict[str, Any]]:
    try:
        with database.session(transaction=False) as session:
            session.one("SELECT 1")
        dependencies, status = {"database": "ok"}, HTTPStatus.OK
    except StoreUnavailable:
        dependencies, status = {"database": "unavailable"}, HTTPStatus.SERVICE_UNAVAILABLE
    body = {"status": "ok" if status == HTTPStatus.OK else "degraded", "dependencies": dependencies}
    return Response(status_code=status.value, content_type="application/json", body=body)


@app.post(
    "/v1/workflows/<workflow_id>/deploy",
    operation_id="deploy",
    security=BEARER,
    responses=documented("deployed", DeployedView, *V1, 409, 415, links=DEPLOYED_LINKS),
)
def deploy(workflow_id: WorkflowId, request: DeployRequest, user: User) -> dict[str, Any]:
    return _deployed(deployments.deploy(workflow_id, user, request.workflow_spec), "deployed")


@app.put(
    "/v1/workflows/<workflow_id>/deploy",
    operation_id="update",
    security=BEARER,
    responses=documented("updated", DeployedView, *V1, 409, 415, links=DEPLOYED_LINKS),
)
def update(workflow_id: WorkflowId, request: DeployRequest, user: User) -> dict[str, Any]:
    return _deployed(deployments.deploy(workflow_id, user, request.workflow_spec, must_exist=True), "updated")


@app.get(
    "/v1/workflows/<workflow_id>/deploy",
    operation_id="status",
    security=BEARER,
    responses=documented("the deployment", StatusView, *V1),
)
def status(workflow_id: WorkflowId, user: User) -> dict[str, Any]:
    deployment, records = deployments.status(workflow_id, user)
    return {**_deployment_view(deployment, records), "workflow_spec": deployment.spec}


@app.delete(
    "/v1/workflows/<workflow_id>/deploy",
    operation_id="undeploy",
    security=BEARER,
    responses=documented("undeployed", UndeployedView, *V1),
)
def undeploy(workflow_id: WorkflowId, user: User) -> dict[str, Any]:
    deployment = deployments.undeploy(workflow_id, user)
    log_event("workflow_undeployed", workflow_id=workflow_id, version=deployment.version, status="undeployed")
    return {"workflow_id": workflow_id, "status": deployment.status.value, "version": deployment.version}


@app.get(
    "/v1/workflows/<workflow_id>/triggers",
    operation_id="triggers",
    security=BEARER,
    responses=documented("its triggers", TriggersView, *V1),
)
def triggers(workflow_id: WorkflowId, user: User) -> dict[str, Any]:
    deployment, records = deployments.status(workflow_id, user)
    activity = firing_history.activity(workflow_id, user, records)
    views = _triggers_view(records)
    for view, record in zip(views, records, strict=True):
        state = activity[record.trigger_id]
        fired = state.last
        view.update(
            registered_at=record.updated_at.isoformat() if record.updated_at else None,
            last_fired_at=fired.fired_at.isoformat() if fired else None,
            last_status=fired.status if fired else None,
            last_error=fired.error if fired else None,
            health=state.health.status.value,
            health_reason=state.health.reason,
        )
    return {
        "workflow_id": workflow_id,
        "status": deployment.status.value,
        "version": deployment.version,
        "triggers": views,
    }


@app.get(
    "/v1/workflows/<workflow_id>/events",
    operation_id="events",
    security=BEARER,
    responses=documented("its firings", EventsView, *V1),
)
def events(
    workflow_id: WorkflowId,
    user: User,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="firings per page")] = 50,
    cursor: Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page")] = None,
    status: Annotated[str | None, Query(max_length=16, description="only firings with this status")] = None,
    trigger_id: Annotated[str | None, Query(max_length=128, description="only this trigger's firings")] = None,
) -> dict[str, Any]:
    page, next_cursor = firing_history.page(
        workflow_id, user, limit=limit, cursor=cursor, status=status, trigger_id=trigger_id
    )
    return {"workflow_id": workflow_id, "events": [f.view() for f in page], "next_cursor": next_cursor}


@app.post(
    "/v1/workflows/<workflow_id>/pause",
    operation_id="pause",
    security=BEARER,
    responses=documented("paused", DeploymentView, *V1, 415),
)
def pause(workflow_id: WorkflowId, user: User) -> dict[str, Any]:
    deployment, records = deployments.pause(workflow_id, user)
    log_event("workflow_paused", workflow_id=workflow_id, status=deployment.status.value)
    return _deployment_view(deployment, records)


@app.post(
    "/v1/workflows/<workflow_id>/resume",
    operation_id="resume",
    security=BEARER,
    responses=documented("resumed", DeploymentView, *V1, 415),
)
def resume(workflow_id: WorkflowId, user: User) -> dict[str, Any]:
    deployment, records = deployments.resume(workflow_id, user)
    log_event("workflow_resumed", workflow_id=workflow_id, status=deployment.status.value)
    return _deployment_view(deployment, records)


@app.post(
    "/v1/workflows/<workflow_id>/trigger/manual",
    operation_id="run_manually",
    security=BEARER,
    responses=documented("the run was queued", ManualRunView, *V1, 403, 409, 415),
)
def run_manually(workflow_id: WorkflowId, request: ManualRunRequest, user: User) -> dict[str, Any]:
    size = len(json.dumps(request.inputs))
    if size > settings.manual_inputs_max_bytes:
        raise PayloadTooLarge(f"inputs are {size} bytes; at most {settings.manual_inputs_max_bytes} are accepted")
    outcome = manual.fire(
        ManualRequest(workflow_id, user, request.confirmation, request.inputs, trigger_id=request.trigger_id)
    )
    log_event(
        "trigger_fired",
        trigger_type=TriggerType.MANUAL.value,
        workflow_id=workflow_id,
        execution_id=outcome.execution_id,
        status=outcome.status.value,
    )
    metrics.add_metric(name="Firings", unit=MetricUnit.Count, value=1)
    return {"status": "execution_started", "execution_id": outcome.execution_id}


@app.get(
    "/v1/cron/preview",
    operation_id="cron_preview",
    security=BEARER,
    responses=documented("the next runs", CronPreviewView, *V1),
)
def cron_preview(
    user: User,
    expression: Annotated[
        str,
        Query(min_length=1, max_length=256, description="5-field Unix cron or a macro", examples=["*/15 9-17 * * 1-5"]),
    ],
    timezone: Annotated[str, Query(max_length=64, description="IANA time zone", examples=["Europe/Berlin"])] = "UTC",
    count: Annotated[int, Query(ge=1, le=MAX_PREVIEW_COUNT, description="how many runs")] = 10,
) -> dict[str, Any]:
    try:
        result = preview(expression, timezone, count, datetime.now(UTC))
    except CronError as exc:
        raise SpecInvalid([Problem(exc.field, exc.problem)], what="cron expression") from exc
    return {**result.as_dict(), "schedules": list(translate(expression, timezone).schedules)}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    body = raw_body(event)
    if len(body) > settings.spec_max_bytes:
        message = f"the request body exceeds {settings.spec_max_bytes} bytes"
        return proxy_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large", message)
    try:
        body.decode()
    except UnicodeDecodeError:
        return proxy_error(HTTPStatus.UNPROCESSABLE_ENTITY, "validation_error", "the body is not UTF-8 encoded JSON")
    return refuse_request(event, body) or app.resolve(event, context)
