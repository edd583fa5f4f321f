"""The CDK app of workflow_scheduler: one stack composing one construct per function (``functions/``, mirroring the
repository's ``functions/``) and what several of them use (``shared/``)."""
