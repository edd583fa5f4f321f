"""The migrate function: applies the PostgreSQL schema migrations not applied yet.

Every deployment that changes it or its layers invokes it (a CDK trigger: a plain synchronous invoke; an
exception fails the deployment). Run it by hand with ``aws lambda invoke`` or ``workflow-scheduler invoke``.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from workflow_scheduler.adapters.migrations import apply_migrations
from workflow_scheduler.domain.errors import StoreUnavailable
from workflow_scheduler.observability import logger
from workflow_scheduler.settings import MigrateSettings

settings = MigrateSettings.from_environment()

# A proxy created moments ago can refuse connections until its target is registered: wait for it while the
# invocation has time left, rather than fail the deployment.
_FIRST_WAIT_SECONDS = 2.0
_MAX_WAIT_SECONDS = 30.0
_RESERVE_SECONDS = 60.0  # kept for the attempt that follows a wait: connecting and migrating


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, list[str]]:
    wait = _FIRST_WAIT_SECONDS
    while True:
        try:
            applied = apply_migrations(settings.conninfo())
            break
        except StoreUnavailable:
            if context.get_remaining_time_in_millis() < (wait + _RESERVE_SECONDS) * 1000:
                raise
            logger.warning("the database is not reachable yet; retrying", extra={"wait_seconds": wait})
            time.sleep(wait)
            wait = min(wait * 2, _MAX_WAIT_SECONDS)
    logger.info("migrations applied", extra={"applied": applied})
    return {"applied": applied}
