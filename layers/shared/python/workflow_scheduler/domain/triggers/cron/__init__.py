"""Cron triggers: Unix cron (crontab(5)) translated exactly to EventBridge Scheduler cron, evaluated as
EventBridge fires it (time zones and clock changes included), and previewed with clock-change warnings; one
EventBridge Scheduler schedule per translated expression, and the reconcile that keeps them in step.

The expression modules are pure: no I/O, no clock (callers pass ``now``). See docs/cron.md for what is
accepted, split or refused. Nothing is imported here: a module that needs one part loads only that part.
"""
