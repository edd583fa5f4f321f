"""Webhook triggers: the public ``ANY /webhook/{path+}`` route and the function behind it (seed 4.3)."""

from __future__ import annotations

from aws_cdk import aws_lambda
from constructs import Construct

from infra_cdk.constants import (
    ENV_WEBHOOK_MAX_BODY_BYTES,
    WEBHOOK_FUNCTION,
    WEBHOOK_FUNCTION_ID,
    WEBHOOK_MEMORY_MB,
    WEBHOOK_PROXY_PATH,
    WEBHOOK_TIMEOUT,
)
from infra_cdk.features.api import Api
from infra_cdk.features.database import Database
from infra_cdk.features.dispatch_queue import DispatchQueue
from infra_cdk.features.function import ServiceFunction
from infra_cdk.features.layers import Layers
from infra_cdk.features.webhook_secrets import WebhookSecrets

AUTH_PER_TRIGGER = (
    "public webhook ingress: each webhook trigger authenticates its callers itself in the function (api_key, "
    "hmac_sha256 over the raw body, basic, or none, as its spec says); an authorizer cannot check a body signature"
)


class Webhooks(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        layers: Layers,
        database: Database,
        dispatch_queue: DispatchQueue,
        webhook_secrets: WebhookSecrets,
        api: Api,
        max_body_bytes: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        environment = {} if max_body_bytes is None else {ENV_WEBHOOK_MAX_BODY_BYTES: str(max_body_bytes)}
        self.function: aws_lambda.Function = ServiceFunction(
            self,
            WEBHOOK_FUNCTION_ID,
            name=WEBHOOK_FUNCTION,
            description="Webhook triggers (ANY /webhook/...): checks the trigger's auth, queues the firing",
            layers=layers,
            memory_size=WEBHOOK_MEMORY_MB,
            timeout=WEBHOOK_TIMEOUT,
            database=database,
            environment=environment,
        ).function
        dispatch_queue.grant_send(self.function)
        webhook_secrets.grant_read(self.function)
        self.methods = api.add_function_route(
            WEBHOOK_PROXY_PATH, ["ANY"], self.function, authentication=AUTH_PER_TRIGGER
        )
