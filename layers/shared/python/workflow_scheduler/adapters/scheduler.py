"""EventBridge Scheduler: one schedule per translated expression, in the service's schedule group."""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from workflow_scheduler.adapters.concurrency import RateLimiter
from workflow_scheduler.domain.errors import RegistrationFailed
from workflow_scheduler.domain.triggers.cron.schedules import (
    ListedSchedule,
    ListingExpired,
    ReadSchedule,
    ScheduleExists,
    ScheduleSpec,
)


@dataclass(frozen=True)
class SchedulerTarget:
    group_name: str
    function_arn: str  # the cron function
    role_arn: str  # the role EventBridge Scheduler assumes to invoke it
    dead_letter_arn: str | None = None  # SQS queue for invocations that failed every retry
    maximum_retry_attempts: int = 10
    maximum_event_age_seconds: int = 3600


THROTTLED = frozenset({"ThrottlingException", "TooManyRequestsException"})
# A next-page token the service no longer takes (moto answers InvalidToken once the item it names is gone).
EXPIRED_TOKEN = frozenset({"ValidationException", "InvalidToken"})
THROTTLE_RETRIES = 6  # with the backoff below: up to ~7 s of waiting in all, well inside the API's 29 s
BACKOFF_BASE_SECONDS = 0.1
BACKOFF_MAX_SECONDS = 2.0
HASH_LENGTH = 32
LIST_PAGE = 100  # ListSchedules' maximum


def _state(spec: ScheduleSpec) -> str:
    return "ENABLED" if spec.enabled else "DISABLED"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class EventBridgeSchedules:
    """Calls share one rate limit per instance (threads of one deploy included) and back off when throttled."""

    def __init__(
        self,
        target: SchedulerTarget,
        client: Any = None,
        *,
        limiter: RateLimiter | None = None,
        max_connections: int = 10,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self._target = target
        self._client = client
        self._limiter = limiter
        self._max_connections = max_connections
        self._sleep = sleep
        self._jitter = jitter
        self._client_lock = threading.Lock()

    def _scheduler(self) -> Any:
        # The first calls of a deploy arrive on several threads at once; boto3's default session is not safe to
        # create clients from concurrently, a client once made is.
        with self._client_lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                # One connection per concurrent call: urllib3 would otherwise discard and reopen them.
                self._client = boto3.client("scheduler", config=Config(max_pool_connections=self._max_connections))
            return self._client

    def _request(self, action: str, **kwargs: Any) -> Any:
        """One API call within the rate limit; retried with jittered exponential backoff while throttled."""
        for attempt in range(THROTTLE_RETRIES + 1):
            if self._limiter is not None:
                self._limiter.acquire()
            try:
                return getattr(self._scheduler(), action)(**kwargs)
            except ClientError as exc:
                if _code(exc) not in THROTTLED or attempt == THROTTLE_RETRIES:
                    raise
            self._sleep(self._jitter(0, min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _definition(self, spec: ScheduleSpec) -> dict[str, Any]:
        target: dict[str, Any] = {
            "Arn": self._target.function_arn,
            "RoleArn": self._target.role_arn,
            "Input": spec.target_input(),
            "RetryPolicy": {
                "MaximumRetryAttempts": self._target.maximum_retry_attempts,
                "MaximumEventAgeInSeconds": self._target.maximum_event_age_seconds,
            },
        }
        if self._target.dead_letter_arn:
            target["DeadLetterConfig"] = {"Arn": self._target.dead_letter_arn}
        return {
            "Name": spec.name,
            "GroupName": self._target.group_name,
            "ScheduleExpression": spec.expression,
            "ScheduleExpressionTimezone": spec.timezone,
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": _state(spec),
            "Target": target,
        }

    def definition_hash(self, spec: ScheduleSpec) -> str:
        definition = {key: value for key, value in self._definition(spec).items() if key != "Description"}
        return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:HASH_LENGTH]

    def _in_step(self, spec: ScheduleSpec, actual: dict[str, Any]) -> bool:
        """Whether a schedule as read back is the one this spec defines, target included.

        The target matters: a stack that replaced the cron function or the scheduler role leaves old
        schedules pointing at the old ones until reconcile rewrites them. The description is not compared.
        """
        wanted = self._definition(spec)
        return all(
            actual.get(key, default) == wanted[key]
            for key, default in (
                ("ScheduleExpression", None),
                ("ScheduleExpressionTimezone", "UTC"),
                ("State", None),
                ("FlexibleTimeWindow", None),
            )
        ) and all(actual.get("Target", {}).get(key) == value for key, value in wanted["Target"].items())

    def listed_in_step(self, spec: ScheduleSpec, listed: ListedSchedule) -> bool:
        return listed.state == _state(spec) and listed.target_arn == self._target.function_arn

    def _call(self, action: str, name: str, **kwargs: Any) -> Any:
        try:
            return self._request(action, **kwargs)
        except ClientError as exc:
            if _code(exc) == "ConflictException":  # a create of a name that is taken
                raise ScheduleExists(f"EventBridge Scheduler refused {action} of {name!r}: it exists") from exc
            raise RegistrationFailed(f"EventBridge Scheduler refused {action} of {name!r}: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise RegistrationFailed("EventBridge Scheduler is unavailable; nothing was changed") from exc

    def _written(self, spec: ScheduleSpec) -> dict[str, Any]:
        """The definition with a description naming the trigger and the definition's hash (for people and tools:
        ``ListSchedules`` does not return descriptions, so reconcile keeps the hash it wrote in PostgreSQL)."""
        description = f"workflow {spec.workflow_id} trigger {spec.trigger_id} v{spec.version}"
        return {**self._definition(spec), "Description": f"{description[:480]} def {self.definition_hash(spec)}"}

    def create(self, spec: ScheduleSpec) -> None:
        self._call("create_schedule", spec.name, **self._written(spec))

    def update(self, spec: ScheduleSpec) -> None:
        self._call("update_schedule", spec.name, **self._written(spec))

    def delete(self, name: str) -> None:
        try:
            self._request("delete_schedule", Name=name, GroupName=self._target.group_name)
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return
            raise RegistrationFailed(f"EventBridge Scheduler refused to delete {name!r}: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise RegistrationFailed("EventBridge Scheduler is unavailable; nothing was changed") from exc

    def _get(self, name: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = self._request("get_schedule", Name=name, GroupName=self._target.group_name)
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return None
            raise RegistrationFailed(f"EventBridge Scheduler refused to read {name!r}: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise RegistrationFailed("EventBridge Scheduler is unavailable") from exc
        return result

    def read(self, spec: ScheduleSpec) -> ReadSchedule | None:
        found = self._get(spec.name)
        if found is None:
            return None
        return ReadSchedule(self._in_step(spec, found), found.get("LastModificationDate"))

    def exists(self, name: str) -> bool:
        return self._get(name) is not None

    def list_page(self, prefix: str, token: str | None) -> tuple[list[ListedSchedule], str | None]:
        """One page (up to 100) of the group's schedules whose names start with ``prefix``: one call."""
        arguments: dict[str, Any] = {"GroupName": self._target.group_name, "MaxResults": LIST_PAGE}
        if prefix:  # the API refuses an empty one
            arguments["NamePrefix"] = prefix
        if token is not None:
            arguments["NextToken"] = token
        try:
            page = self._request("list_schedules", **arguments)
        except ClientError as exc:
            if token is not None and _code(exc) in EXPIRED_TOKEN:
                raise ListingExpired(prefix) from exc
            raise RegistrationFailed(f"EventBridge Scheduler cannot list the schedules: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise RegistrationFailed("EventBridge Scheduler cannot list the schedules") from exc
        # Only the fields of AWS's ScheduleSummary: moto returns whole schedules, AWS does not.
        listed = [
            ListedSchedule(
                name=item["Name"],
                state=item.get("State"),
                target_arn=item.get("Target", {}).get("Arn"),
                last_modified=item.get("LastModificationDate"),
            )
            for item in page.get("Schedules", [])
        ]
        return listed, page.get("NextToken") or None
