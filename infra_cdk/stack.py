"""The one stack of the service: one construct per feature."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra_cdk.constants import (
    API_ID,
    DATABASE_ID,
    DISPATCH_QUEUE_ID,
    LAYERS_ID,
    MIGRATIONS_ID,
    OUTPUT_API_URL,
    OUTPUT_JWT_SECRET_ARN,
    OUTPUT_MIGRATE_FUNCTION,
    STACK_DESCRIPTION,
    STATE_TABLE_ID,
)
from infra_cdk.features.api import Api
from infra_cdk.features.database import Database
from infra_cdk.features.dispatch_queue import DispatchQueue
from infra_cdk.features.layers import Layers
from infra_cdk.features.migrations import Migrations
from infra_cdk.features.state_table import StateTable


class WorkflowSchedulerStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, description=STACK_DESCRIPTION, **kwargs)
        self.layers = Layers(self, LAYERS_ID)
        self.database = Database(self, DATABASE_ID)
        self.state_table = StateTable(self, STATE_TABLE_ID)
        self.dispatch_queue = DispatchQueue(self, DISPATCH_QUEUE_ID)
        self.api = Api(
            self,
            API_ID,
            layers=self.layers,
            database=self.database,
            state_table=self.state_table,
            dispatch_queue=self.dispatch_queue,
        )
        self.migrations = Migrations(self, MIGRATIONS_ID, layers=self.layers, database=self.database)

        CfnOutput(self, OUTPUT_API_URL, value=self.api.url, description="Base URL of the REST API (stage included)")
        CfnOutput(
            self,
            OUTPUT_JWT_SECRET_ARN,
            value=self.api.jwt_secret.secret_arn,
            description="Secrets Manager secret whose value is the HS256 key of the API's bearer tokens",
        )
        CfnOutput(
            self,
            OUTPUT_MIGRATE_FUNCTION,
            value=self.migrations.function.function_name,
            description="Invoke to apply the schema migrations by hand (deployments run it already)",
        )
