"""EventBridge Scheduler: one schedule per translated expression, in the service's schedule group."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from workflow_scheduler.adapters.concurrency import RateLimiter
from workflow_scheduler.domain.errors import RegistrationFailed
from workflow_scheduler.domain.triggers.cron.schedules import ScheduleSpec


@dataclass(frozen=True)
class SchedulerTarget:
    group_name: str
    function_arn: str  # the cron function
    role_arn: str  # the role EventBridge Scheduler assumes to invoke it
    dead_letter_arn: str | None = None  # SQS queue for invocations that failed every retry
    maximum_retry_attempts: int = 10
    maximum_event_age_seconds: int = 3600


THROTTLED = frozenset({"ThrottlingException", "TooManyRequestsException"})
THROTTLE_RETRIES = 6  # with the backoff below: up to ~7 s of waiting in all, well inside the API's 29 s
BACKOFF_BASE_SECONDS = 0.1
BACKOFF_MAX_SECONDS = 2.0


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
            "State": "ENABLED" if spec.enabled else "DISABLED",
            "Description": f"workflow {spec.workflow_id} trigger {spec.trigger_id} v{spec.version}"[:512],
            "Target": target,
        }

    def in_step(self, spec: ScheduleSpec, actual: dict[str, Any]) -> bool:
        """Whether a schedule as read back is the one this spec defines, target included.

        The target matters: a stack that replaced the cron function or the scheduler role leaves old
        schedules pointing at the old ones until reconcile rewrites them.
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

    def _call(self, action: str, name: str, **kwargs: Any) -> Any:
        try:
            return self._request(action, **kwargs)
        except ClientError as exc:
            raise RegistrationFailed(f"EventBridge Scheduler refused {action} of {name!r}: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise RegistrationFailed("EventBridge Scheduler is unavailable; nothing was changed") from exc

    def create(self, spec: ScheduleSpec) -> None:
        self._call("create_schedule", spec.name, **self._definition(spec))

    def update(self, spec: ScheduleSpec) -> None:
        self._call("update_schedule", spec.name, **self._definition(spec))

    def delete(self, name: str) -> None:
        try:
            self._request("delete_schedule", Name=name, GroupName=self._target.group_name)
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return
            raise RegistrationFailed(f"EventBridge Scheduler refused to delete {name!r}: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise RegistrationFailed("EventBridge Scheduler is unavailable; nothing was changed") from exc

    def get(self, name: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = self._request("get_schedule", Name=name, GroupName=self._target.group_name)
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return None
            raise RegistrationFailed(f"EventBridge Scheduler refused to read {name!r}: {_code(exc)}") from exc
        return result

    def list_names(self) -> list[str]:
        names: list[str] = []
        paginator = self._scheduler().get_paginator("list_schedules")
        try:
            for page in paginator.paginate(GroupName=self._target.group_name):
                names.extend(item["Name"] for item in page.get("Schedules", []))
        except (ClientError, BotoCoreError) as exc:
            raise RegistrationFailed("EventBridge Scheduler cannot list the schedules") from exc
        return names
