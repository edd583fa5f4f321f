"""The parameters of a cron trigger: the expression is checked by translating it in its time zone."""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator

from workflow_scheduler.domain.triggers.params import TriggerParams


class CronParams(TriggerParams):
    # timezone first: the expression's validator translates it in that zone.
    timezone: str = "UTC"
    cron_expression: str = Field(min_length=1, max_length=256)
    enabled: bool = True
    jitter_seconds: int = Field(default=0, ge=0, le=900)  # SQS DelaySeconds caps it at 900

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        # Imported when a cron trigger is validated: parsing a spec without one never loads the cron modules.
        from workflow_scheduler.domain.triggers.cron.errors import CronError
        from workflow_scheduler.domain.triggers.cron.timezones import zone_for

        try:
            zone_for(value)
        except CronError as exc:
            raise ValueError(exc.problem) from exc
        return value

    @field_validator("cron_expression")
    @classmethod
    def _translatable(cls, value: str, info: ValidationInfo) -> str:
        from workflow_scheduler.domain.triggers.cron.errors import CronError
        from workflow_scheduler.domain.triggers.cron.translate import translate

        try:
            translate(value, info.data.get("timezone", "UTC"))
        except CronError as exc:
            raise ValueError(str(exc)) from exc
        return value
