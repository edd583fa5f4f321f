"""Every name the infrastructure uses, in one place: the stack, its constructs, paths, env vars, sizes."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, aws_logs

SERVICE_NAME = "workflow_scheduler"
METRICS_NAMESPACE = "WorkflowScheduler"
STACK_NAME = "WorkflowSchedulerStack"
STACK_DESCRIPTION = "workflow_scheduler: trigger management and scheduling core of the workflow platform"

# Paths of the assets, from the repository root (absolute, so synth works from any working directory).
REPO_ROOT = Path(__file__).resolve().parents[1]
CDK_JSON = REPO_ROOT / "cdk.json"
DEFAULT_OUTDIR = REPO_ROOT / "cdk.out"
SHARED_LAYER_DIR = REPO_ROOT / "layers" / "shared"
DEPS_LAYER_DIR = REPO_ROOT / "build" / "layer" / "deps"
FUNCTIONS_DIR = REPO_ROOT / "functions"
HANDLER = "handler.lambda_handler"  # functions/<name>/handler.py
# Ship only the Lambda runtime's bytecode (scripts/build_layer.sh); a developer's 3.11 .pyc would be dead weight.
ASSET_EXCLUDE = ["**/__pycache__/*.pyc", "!**/__pycache__/*.cpython-312.pyc", "**/.pytest_cache", "**/.mypy_cache"]

# Construct ids: also the prefixes of the logical ids in the template.
LAYERS_ID = "Layers"
DATABASE_ID = "Database"
STATE_TABLE_ID = "StateTable"
DISPATCH_QUEUE_ID = "DispatchQueue"
API_ID = "Api"
MIGRATIONS_ID = "Migrations"
API_FUNCTION_ID = "ApiFunction"
MIGRATE_FUNCTION_ID = "MigrateFunction"

# Function folders under functions/.
API_FUNCTION = "api"
MIGRATE_FUNCTION = "migrate"

# Environment variables the functions read (workflow_scheduler.settings). Names, not values: hence the noqa.
ENV_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
ENV_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
ENV_LOG_LEVEL = "LOG_LEVEL"
ENV_DB_SECRET_ARN = "DB_SECRET_ARN"  # noqa: S105
ENV_DB_HOST = "DB_HOST"
ENV_DB_NAME = "DB_NAME"
ENV_STATE_TABLE_NAME = "STATE_TABLE_NAME"
ENV_DISPATCH_QUEUE_URL = "DISPATCH_QUEUE_URL"
ENV_JWT_SECRET_ARN = "JWT_SECRET_ARN"  # noqa: S105
LOG_LEVEL = "INFO"

# Lambda functions.
API_MEMORY_MB = 512
API_TIMEOUT = Duration.seconds(29)  # API Gateway's integration timeout
MIGRATE_MEMORY_MB = 256
MIGRATE_TIMEOUT = Duration.minutes(5)
LOG_RETENTION = aws_logs.RetentionDays.THREE_MONTHS

# PostgreSQL behind RDS Proxy.
DB_NAME = "workflow_scheduler"
DB_PORT = 5432
DB_ADMIN_USER = "scheduler_admin"
DB_ALLOCATED_STORAGE_GB = 20
DB_MAX_ALLOCATED_STORAGE_GB = 100
DB_BACKUP_RETENTION = Duration.days(7)
DB_SECRET_ROTATION = Duration.days(30)
VPC_MAX_AZS = 2
# One NAT gateway: egress for Secrets Manager, GitHub, IMAP and the engine. Two make egress AZ-independent.
VPC_NAT_GATEWAYS = 1

# DynamoDB table of locks and idempotency records (Powertools DynamoDBPersistenceLayer's defaults).
STATE_TABLE_PARTITION_KEY = "id"
STATE_TABLE_TTL_ATTRIBUTE = "expiration"

# SQS queue of accepted firings, on their way to the engine (the local system's twin: local/aws_resources.py).
DISPATCH_MAX_RECEIVES = 5  # deliveries before a firing goes to the dead-letter queue
# Six times the timeout of the function that will consume it (AWS's advice for Lambda event sources).
DISPATCH_VISIBILITY_TIMEOUT = Duration.minutes(3)
DISPATCH_DLQ_RETENTION = Duration.days(14)

# REST API.
API_STAGE_NAME = "prod"
API_THROTTLE_RATE = 100  # stage defaults, per method: requests per second and burst
API_THROTTLE_BURST = 200
HEALTH_PATH = "/health"
V1_PROXY_PATH = "/v1/{proxy+}"
JWT_SECRET_LENGTH = 64

# Outputs.
OUTPUT_API_URL = "ApiUrl"
OUTPUT_JWT_SECRET_ARN = "JwtSecretArn"  # noqa: S105
OUTPUT_MIGRATE_FUNCTION = "MigrateFunctionName"
