"""Cold start: import time of each function's handler module in a fresh process, with bytecode compiled.

Prints, per function, the median import time and its ratio to a bare Powertools REST resolver handler
measured in the same run (target: at most 1.5x). A second reference, the same resolver with
`enable_validation=True` and Powertools Logger, Metrics and Tracer (what every handler here must use),
shows how much of the ratio is the mandated toolkit and how much is our own code.
Usage: `.venv/bin/python bench/cold_start.py [--runs N]`.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = """
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

app = APIGatewayRestResolver()


@app.get("/health")
def health():
    return {"status": "ok"}


def lambda_handler(event, context):
    return app.resolve(event, context)
"""
TOOLKIT = """
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

logger = Logger()
metrics = Metrics(namespace="Bench")
tracer = Tracer()
app = APIGatewayRestResolver(enable_validation=True)


@app.get("/health")
def health() -> dict:
    return {"status": "ok"}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event, context):
    return app.resolve(event, context)
"""
# Importing a handler reads its settings; nothing connects at import, so placeholders do.
PLACEHOLDER_ENV = {
    "DATABASE_URL": "postgresql://unused/unused",
    "JWT_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:jwt",
    "DISPATCH_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/dispatch",
    "STATE_TABLE_NAME": "workflow-scheduler-state",
    "SCHEDULE_GROUP_NAME": "workflow-scheduler",
    "CRON_FUNCTION_ARN": "arn:aws:lambda:us-east-1:123456789012:function:cron",
    "SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/scheduler",
    "EMAIL_ATTACHMENTS_BUCKET": "workflow-scheduler-email-attachments",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "AWS_DEFAULT_REGION": "us-east-1",
}
PROBE = """
import importlib.util, sys, time
start = time.perf_counter()
spec = importlib.util.spec_from_file_location("handler", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
if not callable(getattr(module, "lambda_handler", None)):
    sys.exit(f"{sys.argv[1]} has no lambda_handler")
print(time.perf_counter() - start)
"""


def import_seconds(path: Path, runs: int) -> float:
    env = {**os.environ, **PLACEHOLDER_ENV}
    samples = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", PROBE, str(path)], env=env, capture_output=True, text=True, check=True, cwd=ROOT
        )
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    compileall.compile_dir(ROOT / "layers" / "shared" / "python", quiet=1)
    compileall.compile_dir(ROOT / "functions", quiet=1)
    handlers = sorted((ROOT / "functions").glob("*/handler.py"))
    with tempfile.TemporaryDirectory() as folder:
        baseline_path, toolkit_path = Path(folder) / "baseline.py", Path(folder) / "toolkit.py"
        baseline_path.write_text(BASELINE)
        toolkit_path.write_text(TOOLKIT)
        import_seconds(baseline_path, 1)  # warms the OS file cache for both sides alike
        baseline = import_seconds(baseline_path, args.runs)
        toolkit = import_seconds(toolkit_path, args.runs)
        rows = []
        for handler in handlers:
            seconds = import_seconds(handler, args.runs)
            rows.append(
                {
                    "function": handler.parent.name,
                    "ms": round(seconds * 1000, 1),
                    "ratio": round(seconds / baseline, 2),
                    "ratio_to_toolkit": round(seconds / toolkit, 2),
                }
            )
    report = {
        "baseline_ms": round(baseline * 1000, 1),
        "toolkit_ms": round(toolkit * 1000, 1),
        "toolkit_ratio": round(toolkit / baseline, 2),
        "target_ratio": 1.5,
        "functions": rows,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
