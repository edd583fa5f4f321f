"""The migrate function: applies the PostgreSQL schema migrations not applied yet, then the one-time tasks not
done yet (today one: owner tags for the webhook secrets created before secrets carried them).

Every deployment that changes it or its layers invokes it (a CDK trigger: a plain synchronous invoke; an
exception fails the deployment). Run it by hand with ``aws lambda invoke`` or ``workflow-scheduler invoke``.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from workflow_scheduler.adapters.migrations import apply_migrations, run_once
from workflow_scheduler.domain.errors import StoreUnavailable
from workflow_scheduler.domain.secret_adoption import TASK_NAME as ADOPTION_TASK
from workflow_scheduler.observability import logger
from workflow_scheduler.settings import MigrateSettings
from workflow_scheduler.wiring import connection_pool, legacy_secret_adoption

settings = MigrateSettings.from_environment()

# A proxy created moments ago can refuse connections until its target is registered: wait for it while the
# invocation has time left, rather than fail the deployment.
_FIRST_WAIT_SECONDS = 2.0
_MAX_WAIT_SECONDS = 30.0
_RESERVE_SECONDS = 60.0  # kept for the attempt that follows a wait: connecting and migrating


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
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
    # Before the new webhook function serves (the deployment orders it after this function): it refuses a
    # secret without its owner's tags. A failure fails the deployment and is retried by the next one.
    database = connection_pool(settings)
    try:
        adopted = run_once(settings.conninfo(), ADOPTION_TASK, lambda: legacy_secret_adoption(database).as_dict())
    finally:
        database.close()
    if adopted is not None:
        logger.info("legacy webhook secrets adopted", extra={"event": ADOPTION_TASK, **adopted})
    return {"applied": applied, "tasks": {ADOPTION_TASK: adopted} if adopted is not None else {}}
