"""Webhook triggers: the function behind the public ``ANY /webhook/{path+}`` route (docs/webhooks.md); the stack
routes it through the API with ``AUTH_PER_TRIGGER`` as its authentication."""

from __future__ import annotations

from aws_cdk import aws_lambda
from constructs import Construct

from infra_cdk.constants import (
    ENV_WEBHOOK_MAX_BODY_BYTES,
    WEBHOOK_FUNCTION,
    WEBHOOK_FUNCTION_ID,
    WEBHOOK_MEMORY_MB,
    WEBHOOK_TIMEOUT,
)
from infra_cdk.shared.function import ServiceFunction
from infra_cdk.shared.resources import SharedResources

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
        shared: SharedResources,
        max_body_bytes: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        environment = {} if max_body_bytes is None else {ENV_WEBHOOK_MAX_BODY_BYTES: str(max_body_bytes)}
        self.function: aws_lambda.Function = ServiceFunction(
            self,
            WEBHOOK_FUNCTION_ID,
            shared=shared,
            name=WEBHOOK_FUNCTION,
            description="Webhook triggers (ANY /webhook/...): checks the trigger's auth, queues the firing",
            memory_size=WEBHOOK_MEMORY_MB,
            timeout=WEBHOOK_TIMEOUT,
            environment=environment,
        ).function
        shared.dispatch_queue.grant_send(self.function)
        shared.managed_secrets.grant_read(self.function)
