"""Cron triggers: Unix cron (crontab(5)) translated exactly to EventBridge Scheduler cron, evaluated as
EventBridge fires it (time zones and clock changes included), and previewed with clock-change warnings.

Pure: no I/O, no clock (callers pass ``now``). See docs/cron.md for what is accepted, split or refused.
"""

from __future__ import annotations

from workflow_scheduler.domain.cron.errors import CronError
from workflow_scheduler.domain.cron.evaluate import iter_fire_times, next_fire_times
from workflow_scheduler.domain.cron.eventbridge import EventBridgeCron, parse_eventbridge_cron
from workflow_scheduler.domain.cron.preview import (
    DEPLOY_PREVIEW_COUNT,
    MAX_PREVIEW_COUNT,
    Preview,
    clock_change_warnings,
    deploy_preview,
    preview,
)
from workflow_scheduler.domain.cron.timezones import zone_for
from workflow_scheduler.domain.cron.translate import Translation, translate
from workflow_scheduler.domain.cron.unix import DayRule, UnixCron, parse_unix_cron

__all__ = [
    "DEPLOY_PREVIEW_COUNT",
    "MAX_PREVIEW_COUNT",
    "CronError",
    "DayRule",
    "EventBridgeCron",
    "Preview",
    "Translation",
    "UnixCron",
    "clock_change_warnings",
    "deploy_preview",
    "iter_fire_times",
    "next_fire_times",
    "parse_eventbridge_cron",
    "parse_unix_cron",
    "preview",
    "translate",
    "zone_for",
]
