"""Manual triggers: the owner runs a workflow through the API."""
