"""The email_poller function as deployed, in-process: its settings from the environment, the wiring, moto's SQS,
S3 and Secrets Manager, the Redis lock backend, PostgreSQL and Dovecot. The service mailbox comes from its JSON
secret; a trigger's password from its own secret, used only when the secret is tagged as the trigger owner's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from tests.integration.conftest import Stack
from tests.support.dovecot import HOST, Dovecot, MailUser
from tests.support.email_triggers import empty_email_tables, store_trigger
from tests.support.events import load_event
from tests.support.fake_mailbox import alert_mail
from workflow_scheduler.adapters.postgres import Database
from workflow_scheduler.domain.inline_secrets import OWNER_TAG
from workflow_scheduler.local.invoke import LocalContext

pytestmark = pytest.mark.integration


@pytest.fixture
def poller(stack: Stack, dovecot: Dovecot, mail_user: MailUser, clean_database: str) -> Iterator[ModuleType]:
    """The function, configured as the stack configures it (locks in Redis, as locally)."""
    empty_email_tables(clean_database)
    sm = boto3.client("secretsmanager")
    mailbox = {"IMAP_SERVER": f"{HOST}:{dovecot.imaps_port}", "EMAIL_USER": mail_user.name,
               "EMAIL_PASSWORD": mail_user.password}  # fmt: skip
    arn = sm.create_secret(Name=f"service-mailbox-{mail_user.name}", SecretString=json.dumps(mailbox))["ARN"]
    boto3.client("s3").create_bucket(Bucket="attachments")
    cert = Path(dovecot.root) / "cert.pem"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("EMAIL_MAILBOX_SECRET_ARN", arn)
        env.setenv("EMAIL_ATTACHMENTS_BUCKET", "attachments")
        env.setenv("LOCK_BACKEND", "redis")
        env.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
        env.setenv("SSL_CERT_FILE", str(cert))  # the system's trust store, as the function sees it: Dovecot's cert
        env.setenv("EMAIL_ALLOW_PRIVATE_DESTINATIONS", "true")  # Dovecot is on loopback (tests/support/dovecot.py)
        yield stack.load("email_poller")


def user_secret(name: str, value: str, owner: str) -> None:
    boto3.client("secretsmanager").create_secret(
        Name=name, SecretString=value, Tags=[{"Key": OWNER_TAG, "Value": owner}]
    )


def queued(stack: Stack) -> list[dict[str, Any]]:
    sqs, found = boto3.client("sqs"), []
    while batch := sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=stack.queue_url, ReceiptHandle=message["ReceiptHandle"])
    return found


def test_the_function_polls_with_the_service_mailbox_and_the_owners_secrets(
    poller: ModuleType, stack: Stack, dovecot: Dovecot, mail_user: MailUser
) -> None:
    queued(stack)
    user_secret(f"alice/{mail_user.name}", mail_user.password, owner="alice")
    own = {"imap_host": HOST, "imap_port": dovecot.imaps_port, "username": mail_user.name}
    db = Database(stack.database_url)
    store_trigger(db, "wf-alice", "service", {"email_filter": "subject:deploy"}, owner="alice")
    store_trigger(db, "wf-alice", "own", {**own, "password_ref": f"alice/{mail_user.name}"}, owner="alice")
    store_trigger(db, "wf-mallory", "stolen", {**own, "password_ref": f"alice/{mail_user.name}"}, owner="mallory")
    db.close()
    context = LocalContext(function_name="email_poller")

    first = poller.lambda_handler(load_event("email_poller", "scheduled"), context)  # starts the cursors
    assert first["polled"] == 3 and first["fired"] == 0 and first["failing"] == 1
    dovecot.append(mail_user, alert_mail("deploy finished"))
    dovecot.append(mail_user, alert_mail("lunch"))
    for name in ("service", "own", "stolen"):  # due again: a minute passed
        with Database(stack.database_url).session(transaction=False) as s:
            s.execute("UPDATE email_poll_health SET last_attempt_at = last_attempt_at - interval '1 minute',"
                      " backoff_until = NULL WHERE trigger_id = %s", (name,))  # fmt: skip

    summary = poller.lambda_handler(load_event("email_poller", "scheduled"), context)
    assert summary == {"triggers": 3, "polled": 3, "fired": 3, "failing": 1, "stale": 0, "skipped": {}}
    fired = sorted((m["trigger_id"], m["data"]["subject"]) for m in queued(stack))
    assert fired == [("own", "deploy finished"), ("own", "lunch"), ("service", "deploy finished")]
    with Database(stack.database_url).session(transaction=False) as s:
        row = s.one("SELECT last_error_code, last_error FROM email_poll_health WHERE trigger_id = 'stolen'")
    assert row is not None and row["last_error_code"] == "secret_unavailable"
    assert "cannot be used" in row["last_error"]
