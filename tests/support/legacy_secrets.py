"""Triggers as earlier releases deployed them: their managed secret named under the webhook-only prefix."""

from __future__ import annotations

import json

import boto3
import psycopg
from psycopg.types.json import Jsonb

from workflow_scheduler.domain.inline_secrets import LEGACY_PREFIX, managed_secret_name
from workflow_scheduler.domain.models import TriggerType
from workflow_scheduler.domain.spec import TriggerSpec
from workflow_scheduler.domain.triggers import params_model


def as_legacy(database_url: str, workflow_id: str, trigger_id: str) -> str:
    """Move a deployed webhook trigger's managed secret (value and tags) to the name a release before the neutral
    prefix gave it, and point the trigger at it; return that name."""
    sm = boto3.client("secretsmanager")
    current = managed_secret_name(workflow_id, trigger_id)
    legacy = managed_secret_name(workflow_id, trigger_id, LEGACY_PREFIX)
    value = sm.get_secret_value(SecretId=current)["SecretString"]
    sm.create_secret(Name=legacy, SecretString=value, Tags=sm.describe_secret(SecretId=current)["Tags"])
    sm.delete_secret(SecretId=current, ForceDeleteWithoutRecovery=True)
    with psycopg.connect(database_url) as conn:
        key = (workflow_id, trigger_id)
        row = conn.execute(
            "SELECT trigger_config FROM trigger_index WHERE workflow_id = %s AND trigger_id = %s", key
        ).fetchone()
        if row is None:
            raise LookupError(f"no trigger {key}")
        config = {**row[0], "auth": {**row[0]["auth"], "secret_ref": legacy}}
        params = params_model(TriggerType.WEBHOOK).model_validate(config)
        config_hash = TriggerSpec(trigger_id, TriggerType.WEBHOOK, params).config_hash  # as that release stored it
        conn.execute(
            "UPDATE trigger_index SET trigger_config = %s, config_hash = %s WHERE workflow_id = %s AND trigger_id = %s",
            (Jsonb(config), config_hash, *key),
        )
        conn.execute(
            "UPDATE deployments SET spec = replace(spec::text, %s, %s)::jsonb WHERE workflow_id = %s",
            (json.dumps(current), json.dumps(legacy), workflow_id),
        )
    return legacy
