"""Cron triggers: Unix cron (crontab(5)) translated exactly to EventBridge Scheduler cron, evaluated as
EventBridge fires it (time zones and clock changes included), and previewed with clock-change warnings.

Pure: no I/O, no clock (callers pass ``now``). See docs/cron.md for what is accepted, split or refused.
"""

from __future__ import annotations

from workflow_scheduler.domain.cron.errors import CronError
from workflow_scheduler.domain.cron.evaluate import iter_fire_times
from workflow_scheduler.domain.cron.preview import MAX_PREVIEW_COUNT, deploy_preview, preview
from workflow_scheduler.domain.cron.timezones import zone_for
from workflow_scheduler.domain.cron.translate import translate

# What the rest of the package uses; the other names are imported from their own modules.
__all__ = [
    "MAX_PREVIEW_COUNT",
    "CronError",
    "deploy_preview",
    "iter_fire_times",
    "preview",
    "translate",
    "zone_for",
]
