"""One synthesis of the real CDK app per test run, shared by every infra test (a synth takes seconds)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

# Before aws_cdk starts its Node.js process, which warns about Node 20 otherwise (the Makefile sets it too).
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import pytest
from aws_cdk import App, CfnElement, cx_api
from constructs import IConstruct

from infra_cdk.app import build_app
from infra_cdk.stack import WorkflowSchedulerStack


@dataclass(frozen=True)
class Synthesized:
    app: App
    stack: WorkflowSchedulerStack
    artifact: cx_api.CloudFormationStackArtifact
    template: dict[str, Any]
    template_path: Path

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {lid: r for lid, r in self.template["Resources"].items() if r["Type"] == resource_type}

    def logical_id(self, construct: IConstruct) -> str:
        """The logical id of ``construct``'s CloudFormation resource (the L2's default child)."""
        element = construct.node.default_child or construct
        return str(self.stack.resolve(cast(CfnElement, element).logical_id))


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    """The app exactly as `cdk synth` builds it. Its synthesis runs cdk-nag and CloudFormation's own checks:
    a finding that is not acknowledged fails it, with the report on the captured stdout.
    Without the dependencies layer (`make layer`) this fails with a message that says so."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    app, stack = build_app(str(outdir))
    assembly = app.synth()
    artifact = assembly.get_stack_by_name(stack.stack_name)
    yield Synthesized(
        app=app,
        stack=stack,
        artifact=artifact,
        template=json.loads(Path(artifact.template_full_path).read_text()),
        template_path=Path(artifact.template_full_path),
    )
    shutil.rmtree(outdir)  # the staged assets: about 100 MB, mostly the dependencies layer
