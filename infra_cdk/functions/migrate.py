"""Schema migrations, applied by the deployment itself once the database and its proxy are up."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_lambda, triggers
from constructs import Construct

from infra_cdk.constants import MIGRATE_FUNCTION, MIGRATE_FUNCTION_ID, MIGRATE_MEMORY_MB, MIGRATE_TIMEOUT
from infra_cdk.shared.function import ServiceFunction
from infra_cdk.shared.resources import SharedResources


class Migrations(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        shared: SharedResources,
        run_before: Sequence[aws_lambda.Function] = (),
    ) -> None:
        """``run_before``: functions whose new code must not serve before the migrations and one-time tasks ran."""
        super().__init__(scope, construct_id)
        self.function = ServiceFunction(
            self,
            MIGRATE_FUNCTION_ID,
            shared=shared,
            name=MIGRATE_FUNCTION,
            description="Applies the PostgreSQL schema migrations (run by every deployment that changes them)",
            memory_size=MIGRATE_MEMORY_MB,
            timeout=MIGRATE_TIMEOUT,
        ).function
        # The one-time adoption of webhook secrets made before owner tags (functions/migrate/handler.py).
        shared.managed_secrets.grant_adopt(self.function)
        # The trigger invokes the function's current version, so it runs again whenever the function or a
        # layer changes: the migrations are SQL files in the shared layer. A failure fails the deployment.
        triggers.Trigger(
            self,
            "Trigger",
            handler=self.function,
            execute_after=[shared.database],
            # The new webhook function refuses a secret without its owner's tags: it is updated only once the
            # adoption has tagged the old ones (and the api function only once the schema is there).
            execute_before=list(run_before),
            execute_on_handler_change=True,
            invocation_type=triggers.InvocationType.REQUEST_RESPONSE,
            timeout=MIGRATE_TIMEOUT,
        )
