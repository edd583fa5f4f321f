"""The CDK app (cdk.json runs this file): the stack, checked by cdk-nag's AWS Solutions rules on synth."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

# cdk.json and `make synth` run this file as a script: make the `infra_cdk` package importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aws_cdk import App, Tags, Validations
from cdk_nag import AwsSolutionsChecks

from infra_cdk.constants import CDK_JSON, DEFAULT_OUTDIR, SERVICE_NAME, STACK_NAME
from infra_cdk.stack import WorkflowSchedulerStack


def cdk_json_context() -> dict[str, Any]:
    """The feature flags of cdk.json, so that a synth without the CDK CLI makes the same template."""
    context: dict[str, Any] = json.loads(CDK_JSON.read_text()).get("context", {})
    return context


def build_app(outdir: str | None = None, context: dict[str, Any] | None = None) -> tuple[App, WorkflowSchedulerStack]:
    """The app and its stack, not yet synthesized; cdk-nag runs (and fails the synth) on ``app.synth()``.

    ``context`` adds to cdk.json's (the CDK CLI's `-c key=value` reach the app through its environment).
    """
    app = App(outdir=outdir, context={**cdk_json_context(), **(context or {})})
    stack = WorkflowSchedulerStack(app, STACK_NAME)
    # CloudFormation rejects Tags on a proxy target group, though aws-cdk-lib marks it taggable.
    Tags.of(app).add("service", SERVICE_NAME, exclude_resource_types=["AWS::RDS::DBProxyTargetGroup"])
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return app, stack


def main() -> None:
    app, _ = build_app(os.environ.get("CDK_OUTDIR", str(DEFAULT_OUTDIR)))
    app.synth()


if __name__ == "__main__":
    main()
