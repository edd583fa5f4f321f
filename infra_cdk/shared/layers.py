"""The two Lambda layers every function uses: the shared package and its locked dependencies."""

from __future__ import annotations

from aws_cdk import aws_lambda
from constructs import Construct

from infra_cdk.constants import ASSET_EXCLUDE, DEPS_LAYER_DIR, SHARED_LAYER_DIR

RUNTIME = aws_lambda.Runtime.PYTHON_3_12
ARCHITECTURE = aws_lambda.Architecture.X86_64


class Layers(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        if not any((DEPS_LAYER_DIR / "python").glob("*")):
            raise FileNotFoundError(
                f"the dependencies layer is missing ({DEPS_LAYER_DIR / 'python'} is empty or absent): "
                "run `make layer` (scripts/build_layer.sh) before synthesizing"
            )
        # Lambda puts a layer's python/ folder on sys.path; both asset folders have that layout.
        self.shared = aws_lambda.LayerVersion(
            self,
            "Shared",
            code=aws_lambda.Code.from_asset(str(SHARED_LAYER_DIR), exclude=ASSET_EXCLUDE),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="workflow_scheduler package: domain, adapters, settings, migrations",
        )
        self.dependencies = aws_lambda.LayerVersion(
            self,
            "Dependencies",
            code=aws_lambda.Code.from_asset(str(DEPS_LAYER_DIR)),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="third-party runtime dependencies from uv.lock (scripts/build_layer.sh)",
        )

    @property
    def all(self) -> list[aws_lambda.ILayerVersion]:
        return [self.dependencies, self.shared]
