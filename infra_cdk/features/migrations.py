"""Schema migrations, applied by the deployment itself once the database and its proxy are up."""

from __future__ import annotations

from aws_cdk import triggers
from constructs import Construct

from infra_cdk.constants import MIGRATE_FUNCTION, MIGRATE_FUNCTION_ID, MIGRATE_MEMORY_MB, MIGRATE_TIMEOUT
from infra_cdk.features.database import Database
from infra_cdk.features.function import ServiceFunction
from infra_cdk.features.layers import Layers


class Migrations(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, layers: Layers, database: Database) -> None:
        super().__init__(scope, construct_id)
        self.function = ServiceFunction(
            self,
            MIGRATE_FUNCTION_ID,
            name=MIGRATE_FUNCTION,
            description="Applies the PostgreSQL schema migrations (run by every deployment that changes them)",
            layers=layers,
            memory_size=MIGRATE_MEMORY_MB,
            timeout=MIGRATE_TIMEOUT,
            database=database,
        ).function
        # The trigger invokes the function's current version, so it runs again whenever the function or a
        # layer changes: the migrations are SQL files in the shared layer. A failure fails the deployment.
        triggers.Trigger(
            self,
            "Trigger",
            handler=self.function,
            execute_after=[database],
            execute_on_handler_change=True,
            invocation_type=triggers.InvocationType.REQUEST_RESPONSE,
            timeout=MIGRATE_TIMEOUT,
        )
