"""The CDK app of workflow_scheduler: one stack composing one construct per feature (``features/``)."""
