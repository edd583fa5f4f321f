"""The local system on outside services: DATABASE_URL, AWS_ENDPOINT_URL and WORKFLOW_ENGINE_URL set."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

from tests.e2e.local_system import LocalSystem, start_system

pytestmark = pytest.mark.e2e

ENGINE_URL = "http://127.0.0.1:9/engine"  # nothing listens: no firing happens in these tests
SPEC = {"nodes": [{"id": "hook", "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_WEBHOOK", "parameters": {}}]}


@pytest.fixture(scope="module")
def aws_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def start(state_dir: Path, database_url: str, endpoint: str) -> LocalSystem:
    return start_system(state_dir, DATABASE_URL=database_url, AWS_ENDPOINT_URL=endpoint, WORKFLOW_ENGINE_URL=ENGINE_URL)


def stop(system: LocalSystem) -> None:
    assert system.stop() == 0, system.output()
    assert not (system.state_dir / "dev.json").exists()


def test_outside_services_are_used_and_a_second_start_finds_its_resources(
    tmp_path: Path, fresh_database: str, aws_endpoint: str
) -> None:
    state_dir = tmp_path / "state"
    first = start(state_dir, fresh_database, aws_endpoint)
    try:
        environment = first.running_environment()
        assert environment["DATABASE_URL"] == fresh_database
        assert environment["AWS_ENDPOINT_URL"] == aws_endpoint
        assert environment["WORKFLOW_ENGINE_URL"] == ENGINE_URL
        assert not (state_dir / "pgdata").exists(), "no embedded PostgreSQL when DATABASE_URL is set"
        assert requests.get(f"{first.base_url}/_local/executions", timeout=10).status_code == 404

        dynamodb = boto3.client("dynamodb", endpoint_url=aws_endpoint)
        table = dynamodb.describe_table(TableName=environment["STATE_TABLE_NAME"])["Table"]
        assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
        ttl = dynamodb.describe_time_to_live(TableName=environment["STATE_TABLE_NAME"])["TimeToLiveDescription"]
        assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expiration")
        secrets = boto3.client("secretsmanager", endpoint_url=aws_endpoint)
        secret = secrets.get_secret_value(SecretId=environment["JWT_SECRET_ARN"])["SecretString"]
        assert secret == (state_dir / "jwt_signing_key").read_text().strip()
        sqs = boto3.client("sqs", endpoint_url=aws_endpoint)
        attributes = sqs.get_queue_attributes(QueueUrl=environment["DISPATCH_QUEUE_URL"], AttributeNames=["All"])
        assert json.loads(attributes["Attributes"]["RedrivePolicy"])["maxReceiveCount"] > 0

        headers = {"Authorization": f"Bearer {first.token('alice')}"}
        url = f"{first.base_url}/v1/workflows/wf-outside/deploy"
        assert requests.post(url, json={"workflow_spec": SPEC}, headers=headers, timeout=10).status_code == 200
    finally:
        stop(first)

    second = start(state_dir, fresh_database, aws_endpoint)
    try:
        assert second.running_environment()["JWT_SECRET_ARN"] == environment["JWT_SECRET_ARN"]
        headers = {"Authorization": f"Bearer {second.token('alice')}"}
        status = requests.get(f"{second.base_url}/v1/workflows/wf-outside/deploy", headers=headers, timeout=10)
        assert status.status_code == 200 and status.json()["status"] == "deployed"
    finally:
        stop(second)
