"""GitHub triggers: GitHub App webhook deliveries matched against Actions-style filters."""
