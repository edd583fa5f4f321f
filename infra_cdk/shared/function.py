"""One Lambda function of the service, configured the same way everywhere."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, aws_lambda, aws_logs
from constructs import Construct

from infra_cdk import nag
from infra_cdk.constants import (
    ASSET_EXCLUDE,
    ENV_LOG_LEVEL,
    ENV_METRICS_NAMESPACE,
    ENV_SERVICE_NAME,
    ENV_TRACER_CAPTURE_ERROR,
    ENV_TRACER_CAPTURE_RESPONSE,
    FUNCTIONS_DIR,
    HANDLER,
    LOG_LEVEL,
    LOG_RETENTION,
    METRICS_NAMESPACE,
    SERVICE_NAME,
    TRACER_CAPTURE,
)
from infra_cdk.shared.database import FunctionNetwork
from infra_cdk.shared.layers import ARCHITECTURE, RUNTIME
from infra_cdk.shared.resources import SharedResources


class ServiceFunction(Construct):
    """``functions/<name>/handler.py`` with both layers, X-Ray tracing, its own log group, and a place in the
    VPC with the credentials to reach PostgreSQL through RDS Proxy (``network``: a security group of its own that
    ``Database.allow_client`` let through, instead of the shared client group).

    Traces keep no answer or exception of a handler as metadata: set here, after ``environment``, so that no
    function can forget or undo it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        shared: SharedResources,
        name: str,
        description: str,
        memory_size: int,
        timeout: Duration,
        environment: Mapping[str, str] | None = None,
        network: FunctionNetwork | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        folder = FUNCTIONS_DIR / name
        if not (folder / "handler.py").is_file():
            raise FileNotFoundError(f"{folder / 'handler.py'} does not exist")
        self.log_group = aws_logs.LogGroup(self, "Logs", retention=LOG_RETENTION)
        placement = network or shared.database.network
        self.function = aws_lambda.Function(
            self,
            "Function",
            code=aws_lambda.Code.from_asset(str(folder), exclude=ASSET_EXCLUDE),
            handler=HANDLER,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            description=description,
            layers=shared.layers.all,
            memory_size=memory_size,
            timeout=timeout,
            tracing=aws_lambda.Tracing.ACTIVE,
            log_group=self.log_group,
            environment={
                ENV_SERVICE_NAME: SERVICE_NAME,
                ENV_METRICS_NAMESPACE: METRICS_NAMESPACE,
                ENV_LOG_LEVEL: LOG_LEVEL,
                **(environment or {}),
                ENV_TRACER_CAPTURE_RESPONSE: TRACER_CAPTURE,
                ENV_TRACER_CAPTURE_ERROR: TRACER_CAPTURE,
            },
            vpc=placement.vpc,
            vpc_subnets=placement.subnets,
            security_groups=[placement.security_group],
        )
        shared.database.grant_connect(self.function)

        nag.acknowledge(
            self,
            "Python 3.12 is the service's runtime: the dependencies layer is built for cp312 and the code is "
            "tested on 3.12; moving to a newer runtime is a deliberate upgrade of both",
            "AwsSolutions-L1",
        )
        nag.acknowledge(
            self,
            "X-Ray's trace-writing actions (xray:PutTraceSegments, xray:PutTelemetryRecords) support no "
            "resource-level permissions",
            "AwsSolutions-IAM5[Resource::*]",
        )
        nag.acknowledge(self, nag.MANAGED_EXECUTION_POLICY_REASON, nag.LAMBDA_BASIC_EXECUTION, nag.LAMBDA_VPC_EXECUTION)
