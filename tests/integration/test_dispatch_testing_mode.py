"""Testing mode through the dispatch function: the firing becomes an e-mail (real SMTP server, SES in moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import psycopg
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from tests.integration.conftest import moto_stack
from tests.integration.test_testing_mailer import Inbox, serve
from tests.support.events import load_event
from workflow_scheduler.local.functions import load_handler_module
from workflow_scheduler.local.invoke import LocalContext


@pytest.fixture
def aws(clean_database: str) -> Iterator[pytest.MonkeyPatch]:
    # Its own moto per test: the idempotency records of one test's batch would skip the next one's.
    with moto_stack(clean_database) as stack:
        stack.state_table()
        stack.env.setenv("WORKFLOW_ENGINE_URL", "http://127.0.0.1:1")  # never called in testing mode
        stack.env.setenv("TESTING_MODE", "true")
        stack.env.setenv("TESTING_EMAIL_RECIPIENT", "qa@example.com")
        stack.env.setenv("EMAIL_FROM", "scheduler@example.com")
        yield stack.env


def dispatch_sample() -> tuple[dict[str, object], set[str]]:
    event = load_event("dispatch", "batch")
    ids = {json.loads(record["body"])["execution_id"] for record in event["Records"]}
    dispatch = load_handler_module("dispatch", fresh=True)
    return dispatch.lambda_handler(event, LocalContext(function_name="dispatch")), ids


def statuses(database_url: str) -> set[str]:
    with psycopg.connect(database_url) as conn:
        return {row[0] for row in conn.execute("SELECT status FROM trigger_events")}


def test_testing_mode_mails_instead_of_calling_the_engine(aws: pytest.MonkeyPatch, clean_database: str) -> None:
    inbox = Inbox()
    with serve(inbox) as port:
        aws.setenv("EMAIL_CLIENT_TYPE", "smtp")
        aws.setenv("SMTP_HOST", "127.0.0.1")
        aws.setenv("SMTP_PORT", str(port))
        aws.setenv("SMTP_SECURITY", "none")
        result, ids = dispatch_sample()
    assert result == {"batchItemFailures": []}
    assert len(inbox.messages) == len(ids)
    seen = {message["X-Workflow-Execution-Id"] for _, message in inbox.messages}
    assert seen == ids
    envelope, message = inbox.messages[0]
    assert envelope.rcpt_tos == ["qa@example.com"] and "Workflow Trigger Alert" in str(message["Subject"])
    assert statuses(clean_database) == {"dispatched"}


def test_testing_mode_over_ses(aws: pytest.MonkeyPatch, clean_database: str) -> None:
    boto3.client("ses").verify_email_identity(EmailAddress="scheduler@example.com")
    aws.setenv("EMAIL_CLIENT_TYPE", "ses")
    result, ids = dispatch_sample()
    assert result == {"batchItemFailures": []}
    sent = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    assert len(sent) == len(ids)
    assert statuses(clean_database) == {"dispatched"}
