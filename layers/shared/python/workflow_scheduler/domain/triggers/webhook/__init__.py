"""Webhook triggers: an HTTP call to a deployed path fires its workflow, after the trigger's own auth."""
