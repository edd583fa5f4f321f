"""E-mail triggers deployed through the API and polled by the poller function, in-process, on the real things:
Dovecot over TLS and STARTTLS, moto's Secrets Manager, SQS and S3, PostgreSQL, the Redis lock backend.

A deploy logs in and selects the folder, refusing what cannot work with a 422 that says why (never echoing the
password); mail that arrives after the deploy fires once, mail that does not match never; a password changed at
the provider later shows the trigger degraded in GET .../triggers; mail that arrives during a pause does not fire.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from tests.integration.conftest import Stack
from tests.support.api import ApiClient, Reply, deploy_body
from tests.support.dovecot import HOST, Dovecot, MailUser, spare_port
from tests.support.email_triggers import empty_email_tables
from tests.support.events import load_event
from tests.support.fake_mailbox import alert_mail
from tests.support.oauth_server import OAuthServer
from workflow_scheduler.adapters.postgres import Database
from workflow_scheduler.domain.inline_secrets import OWNER_TAG, managed_secret_name
from workflow_scheduler.local.invoke import LocalContext

pytestmark = pytest.mark.integration


@dataclass
class Email:
    api: ApiClient
    poller: ModuleType
    stack: Stack
    dovecot: Dovecot
    user: MailUser
    workflow_id: str

    def node(self, node_id: str = "mail", **parameters: Any) -> dict[str, Any]:
        given = {"imap_host": HOST, "imap_port": self.dovecot.imaps_port, "username": self.user.name}
        given.update({"password": self.user.password, **parameters})
        return {"id": node_id, "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_EMAIL", "parameters": given}

    def deploy(self, *nodes: dict[str, Any]) -> Reply:
        return self.api.call("deploy", self.workflow_id, deploy_body(*nodes))

    def poll(self) -> dict[str, Any]:
        """One scheduled run, with every trigger due (as if a minute had passed since the last)."""
        with Database(self.stack.database_url).session(transaction=False) as s:
            s.execute(
                "UPDATE email_poll_health SET last_attempt_at = last_attempt_at - interval '1 minute',"
                " backoff_until = NULL WHERE workflow_id = %s",
                (self.workflow_id,),
            )
        summary: dict[str, Any] = self.poller.lambda_handler(
            load_event("email_poller", "scheduled"), LocalContext(function_name="email_poller")
        )
        return summary

    def fired(self) -> list[str]:
        """The subjects of the firings on the dispatch queue (taken off it)."""
        sqs, found = boto3.client("sqs"), []
        while batch := sqs.receive_message(QueueUrl=self.stack.queue_url, MaxNumberOfMessages=10).get("Messages", []):
            for message in batch:
                body = json.loads(message["Body"])
                if body["workflow_id"] == self.workflow_id:
                    found.append(body["data"]["subject"])
                sqs.delete_message(QueueUrl=self.stack.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return found

    def triggers(self) -> dict[str, dict[str, Any]]:
        reply = self.api.call("triggers", self.workflow_id)
        assert reply.status == 200, reply.body
        return {t["trigger_id"]: t for t in reply.body["triggers"]}


@pytest.fixture(scope="module")
def functions(stack: Stack, dovecot: Dovecot) -> tuple[ModuleType, ModuleType]:
    """The api and email_poller functions, configured as the stack configures them (locks in Redis, as locally)."""
    boto3.client("s3").create_bucket(Bucket="attachments")
    stack.env.setenv("EMAIL_ATTACHMENTS_BUCKET", "attachments")
    stack.env.setenv("LOCK_BACKEND", "redis")
    stack.env.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    # The system's trust store, as the functions see it: Dovecot's self-signed certificate.
    stack.env.setenv("SSL_CERT_FILE", str(Path(dovecot.root) / "cert.pem"))
    stack.env.setenv("EMAIL_ALLOW_PRIVATE_DESTINATIONS", "true")  # Dovecot is on loopback, as on make dev
    return stack.load("api"), stack.load("email_poller")


@pytest.fixture
def email(
    functions: tuple[ModuleType, ModuleType], stack: Stack, dovecot: Dovecot, mail_user: MailUser, clean_database: str
) -> Email:
    empty_email_tables(clean_database)
    api, poller = functions
    found = Email(ApiClient(api, stack.jwt_key), poller, stack, dovecot, mail_user, f"wf-{uuid.uuid4().hex[:8]}")
    found.fired()
    return found


def test_mail_after_the_deploy_fires_once_and_mail_that_does_not_match_never(email: Email) -> None:
    email.dovecot.append(email.user, alert_mail("deploy from last week"))
    reply = email.deploy(email.node(email_filter="subject:deploy", mark_as_read=True))
    assert reply.status == 200, reply.body
    view = reply.body["triggers"][0]
    assert view["type"] == "email" and view["status"] == "active"
    assert view["mailbox"] == f"{email.user.name}@{HOST}:{email.dovecot.imaps_port}"
    assert view["email_filter"] == "subject:deploy" and view["check_interval"] == 60
    assert email.user.password not in json.dumps(reply.body)
    secret = boto3.client("secretsmanager").describe_secret(SecretId=managed_secret_name(email.workflow_id, "mail"))
    assert {"Key": OWNER_TAG, "Value": "alice"} in secret["Tags"]

    matching = email.dovecot.append(email.user, alert_mail("deploy finished"))
    other = email.dovecot.append(email.user, alert_mail("lunch"))
    assert email.poll()["fired"] == 1
    assert email.fired() == ["deploy finished"]
    assert r"\Seen" in email.dovecot.flags(email.user)[matching]
    assert email.dovecot.flags(email.user)[other] == set()  # unmatched mail is left as it was
    assert email.poll()["fired"] == 0 and email.fired() == []
    health = email.triggers()["mail"]
    assert health["health"] == "healthy" and health["health_reason"].startswith("last successful poll")


@pytest.mark.parametrize(
    ("parameters", "code", "says"),
    [
        ({"password": "not-the-password"}, "imap_login_refused", "refused the login of"),
        ({"folder": "Nowhere"}, "imap_folder_not_found", "folder 'Nowhere' cannot be opened"),
        ({"imap_port": "spare"}, "imap_unreachable", "could not reach an IMAP server at"),
        ({"imap_port": "starttls"}, "imap_unreachable", "143 use_ssl false"),  # the same answer: no port scanning
    ],
)
def test_a_deploy_refuses_a_mailbox_that_cannot_be_used_and_says_why(
    email: Email, parameters: dict[str, Any], code: str, says: str
) -> None:
    ports = {"spare": spare_port(), "starttls": email.dovecot.imap_port}  # TLS spoken to the STARTTLS port
    if "imap_port" in parameters:
        parameters = {"imap_port": ports[parameters["imap_port"]]}
    reply = email.deploy(email.node(**parameters))
    assert reply.status == 422 and reply.body["error"] == code, reply.body
    assert says in reply.body["message"] and reply.body["problems"][0]["node_id"] == "mail"
    assert "not-the-password" not in json.dumps(reply.body) and email.user.password not in json.dumps(reply.body)
    assert email.api.call("status", email.workflow_id).status == 404  # nothing deployed


def test_starttls_and_a_users_own_password_secret(email: Email) -> None:
    name = f"alice/imap-{email.workflow_id}"
    boto3.client("secretsmanager").create_secret(
        Name=name, SecretString=email.user.password, Tags=[{"Key": OWNER_TAG, "Value": "alice"}]
    )
    node = email.node(imap_port=email.dovecot.imap_port, use_ssl=False)
    del node["parameters"]["password"]
    node["parameters"]["password_ref"] = name
    reply = email.deploy(node)
    assert reply.status == 200, reply.body
    uid = email.dovecot.append(email.user, alert_mail("over starttls"))
    assert email.poll()["fired"] == 1 and email.fired() == ["over starttls"]
    assert r"\Seen" not in email.dovecot.flags(email.user)[uid]  # mark_as_read off: left unread

    reply = email.api.call("deploy", email.workflow_id + "-b", deploy_body(node), user="mallory")
    assert reply.status == 422 and reply.body["problems"][0]["field"] == "parameters.password_ref", reply.body


def test_a_password_changed_at_the_provider_later_shows_the_trigger_degraded(email: Email) -> None:
    assert email.deploy(email.node()).status == 200
    email.poll()
    changed = email.dovecot.add_user(email.user.name, "changed-at-the-provider")
    time.sleep(1.1)  # Dovecot rereads a changed passwd-file at most once a second
    assert email.poll()["failing"] == 1
    health = email.triggers()["mail"]
    assert health["health"] == "degraded" and "(imap_login_refused)" in health["health_reason"]

    # Redeploying with the new password checks it, and the trigger is polled again at once.
    assert email.deploy(email.node(password="changed-at-the-provider")).status == 200
    email.dovecot.append(changed, alert_mail("back"))
    assert email.poll()["fired"] == 1 and email.fired() == ["back"]


def test_mail_that_arrives_during_a_pause_does_not_fire_after_resume(email: Email) -> None:
    assert email.deploy(email.node()).status == 200
    assert email.api.call("pause", email.workflow_id).status == 200
    email.dovecot.append(email.user, alert_mail("while paused"))
    assert email.poll()["triggers"] == 0
    assert email.api.call("resume", email.workflow_id).status == 200
    email.dovecot.append(email.user, alert_mail("after resume"))
    assert email.poll()["fired"] == 1 and email.fired() == ["after resume"]


@pytest.mark.timeout(60, method="thread")  # a deadlock would hang the pool's shutdown
def test_triggers_deployed_together_check_their_mailboxes_side_by_side(email: Email) -> None:
    email.dovecot.create_folder(email.user, "Alerts")
    email.dovecot.append(email.user, alert_mail("already there"), folder="Alerts")
    reply = email.deploy(email.node("inbox"), email.node("alerts", folder="Alerts"), email.node("again"))
    assert reply.status == 200, reply.body
    with Database(email.stack.database_url).session(transaction=False) as s:
        cursors = s.all("SELECT trigger_id, folder, last_uid FROM email_cursors WHERE workflow_id = %s ORDER BY 1",
                        (email.workflow_id,))  # fmt: skip
    assert [(c["trigger_id"], c["folder"], c["last_uid"]) for c in cursors] == [
        ("again", "INBOX", 0),
        ("alerts", "Alerts", 1),
        ("inbox", "INBOX", 0),
    ]


def test_an_xoauth2_trigger_is_checked_with_a_token_from_its_oauth_client(
    email: Email, oauth_server: OAuthServer
) -> None:
    client = oauth_server.provider.add_client(email.user.name)
    refresh, secret = f"alice/refresh-{email.workflow_id}", f"alice/client-{email.workflow_id}"
    for name, value in ((refresh, client.refresh_token), (secret, client.client_secret)):
        boto3.client("secretsmanager").create_secret(
            Name=name, SecretString=value, Tags=[{"Key": OWNER_TAG, "Value": "alice"}]
        )
    node = email.node(
        auth="xoauth2", oauth_token_url=oauth_server.token_url, oauth_client_id=client.client_id,
        oauth_refresh_token_ref=refresh, oauth_client_secret_ref=secret,
    )  # fmt: skip
    del node["parameters"]["password"]
    requests_before = len(oauth_server.provider.token_requests)
    reply = email.deploy(node)
    assert reply.status == 200, reply.body
    assert reply.body["triggers"][0]["auth"] == "xoauth2"
    assert len(oauth_server.provider.token_requests) > requests_before  # the deploy logged in with a token
    email.dovecot.append(email.user, alert_mail("via a token"))
    assert email.poll()["fired"] == 1 and email.fired() == ["via a token"]

    oauth_server.provider.clients.pop(client.client_id)  # the provider no longer knows the client
    reply = email.api.call("deploy", email.workflow_id + "-b", deploy_body(node))
    assert reply.status == 422 and reply.body["error"] == "oauth_token_refused", reply.body
    assert client.refresh_token not in json.dumps(reply.body)
