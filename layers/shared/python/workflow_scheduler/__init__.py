"""workflow_scheduler: the trigger and scheduling core of the workflow platform.

Layers: ``domain`` (pure, typed), ``adapters`` (all I/O), ``http`` (shared HTTP shaping for the
Lambda handlers in ``functions/``), ``local`` (the one-machine system behind ``make dev``).
"""
