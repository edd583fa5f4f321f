"""Testing mode end to end: a real SMTP server (aiosmtpd) on loopback receives the notification; SES through moto."""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import boto3
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from tests.support.tls import self_signed_certificate
from workflow_scheduler.adapters.secrets import read_secret
from workflow_scheduler.adapters.testing_mailer import EXECUTION_HEADER, MailNotifier
from workflow_scheduler.domain.delivery import DeliveryResult
from workflow_scheduler.domain.firing import TriggerEvent
from workflow_scheduler.domain.models import TriggerType
from workflow_scheduler.settings import TestingMailSettings as MailSettings  # not "Test*": pytest would collect it

RECIPIENT = "qa@example.com"
SENDER = "scheduler@example.com"
HOSTILE = "<script>alert(1)</script>"
REGION = "us-east-1"


def event(**changes: Any) -> TriggerEvent:
    base = TriggerEvent(
        execution_id=f"exec_{uuid.uuid4()}",
        workflow_id="wf-mail",
        trigger_id="hook",
        trigger_type=TriggerType.WEBHOOK,
        version=1,
        data={"method": "POST", "path": "/webhook/wf-mail", "body": {"comment": HOSTILE}},
        fired_at=datetime(2026, 11, 29, 9, 0, tzinfo=UTC),
    )
    return base.model_copy(update=changes)


def settings(port: int, **changes: Any) -> MailSettings:
    values: dict[str, Any] = {
        "testing_mode": True,
        "mail_recipient": RECIPIENT,
        "mail_from": SENDER,
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_security": "none",
        "smtp_timeout_seconds": 5,
    }
    return MailSettings(**(values | changes))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def html_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    content: str = part.get_content()
    return content


class Inbox:
    """An aiosmtpd handler keeping what it received; refuses recipients when told to."""

    def __init__(self, refuse_with: str | None = None) -> None:
        self.refuse_with = refuse_with
        self.messages: list[tuple[Envelope, EmailMessage]] = []

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any) -> str:
        if self.refuse_with:
            return self.refuse_with
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        message = email.message_from_bytes(envelope.original_content or b"", policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append((envelope, message))
        return "250 Message accepted for delivery"


@contextmanager
def serve(inbox: Inbox, **smtp_options: Any) -> Iterator[int]:
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **smtp_options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def smtp_port(inbox: Inbox) -> Iterator[int]:
    with serve(inbox) as port:
        yield port


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: the client trusts it only when told to."""
    cert_pem, key_pem = self_signed_certificate()
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert_pem)
    key_file.write_bytes(key_pem)
    return cert_file, key_file


@pytest.fixture
def server_tls(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_files)
    return context


@pytest.fixture
def client_tls(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tls_files[0]))


def test_smtp_server_receives_the_notification(inbox: Inbox, smtp_port: int) -> None:
    fired = event()
    delivery = MailNotifier(settings(smtp_port)).deliver(fired)

    assert delivery.result == DeliveryResult.DELIVERED, delivery.error
    assert delivery.detail["notified"] == RECIPIENT and delivery.detail["via"] == "smtp"
    assert delivery.latency_ms >= 0
    [(envelope, message)] = inbox.messages
    assert envelope.mail_from == SENDER and envelope.rcpt_tos == [RECIPIENT]
    assert message["Subject"] == "🚀 Workflow Trigger Alert - WEBHOOK - wf-mail"
    assert message["To"] == RECIPIENT
    assert message["From"].addresses[0].addr_spec == SENDER
    assert message["Message-ID"] == delivery.detail["message_id"]
    assert message[EXECUTION_HEADER] == fired.execution_id
    assert message["Date"].datetime is not None
    assert message.get_content_type() == "multipart/alternative"
    page = html_part(message)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
    assert "<li><strong>Method:</strong> POST</li>" in page
    text = message.get_body(preferencelist=("plain",))
    assert text is not None and "the workflow was not executed" in text.get_content()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")  # plain on loopback
def test_smtp_login_with_the_password_from_secrets_manager(inbox: Inbox) -> None:
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        # handled=False: aiosmtpd answers a failure with its own 535 reply.
        return AuthResult(success=data == LoginPassword(b"mailer", b"pa55-w0rd"), handled=False)

    name = f"smtp-{uuid.uuid4().hex}"  # Powertools caches secrets by name for the whole process
    with mock_aws():
        sm = boto3.client("secretsmanager", region_name=REGION)
        arn = sm.create_secret(Name=name, SecretString="pa55-w0rd")["ARN"]
        wrong = sm.create_secret(Name=f"{name}-wrong", SecretString="guess-w0rd")["ARN"]
        with serve(inbox, authenticator=authenticator, auth_required=True, auth_require_tls=False) as port:
            config = settings(port, smtp_username="mailer", smtp_password_secret_arn=arn)
            delivered = MailNotifier(config, secret_reader=read_secret).deliver(event())
            refused = MailNotifier(config.model_copy(update={"smtp_password_secret_arn": wrong})).deliver(event())
            missing = MailNotifier(config.model_copy(update={"smtp_password_secret_arn": f"{name}-gone"}))
            unreadable = missing.deliver(event())

    assert delivered.result == DeliveryResult.DELIVERED, delivered.error
    assert len(inbox.messages) == 1
    # smtplib tries each mechanism the server offers (PLAIN, then LOGIN) before giving up.
    assert logins[0] == (b"mailer", b"pa55-w0rd") and set(logins[1:]) == {(b"mailer", b"guess-w0rd")}
    assert refused.result == DeliveryResult.REJECTED, refused.error  # 535: the server said no for good
    assert refused.error is not None and "535" in refused.error and "guess-w0rd" not in refused.error
    assert unreadable.result == DeliveryResult.RETRY  # Secrets Manager failing is an outage, not the firing's fault
    assert unreadable.error == "a secret this service needs cannot be read (its name is logged)"


def test_no_login_is_tried_without_a_username(inbox: Inbox, smtp_port: int) -> None:
    def no_secrets(arn: str) -> str:
        raise AssertionError("no username: no secret is read")

    delivery = MailNotifier(settings(smtp_port), secret_reader=no_secrets).deliver(event())

    assert delivery.result == DeliveryResult.DELIVERED


@pytest.mark.parametrize(
    ("reply", "result"),
    [
        ("550 5.1.1 <qa@example.com>: Recipient address rejected: User unknown", DeliveryResult.REJECTED),
        ("450 4.2.0 <qa@example.com>: Mailbox busy, try later", DeliveryResult.RETRY),
    ],
)
def test_refused_recipient(reply: str, result: DeliveryResult) -> None:
    inbox = Inbox(refuse_with=reply)
    with serve(inbox) as port:
        delivery = MailNotifier(settings(port)).deliver(event())

    assert delivery.result == result
    assert delivery.error == f"recipient refused: {reply}"
    assert inbox.messages == []


def test_closed_port_is_a_retry() -> None:
    delivery = MailNotifier(settings(free_port())).deliver(event())

    assert delivery.result == DeliveryResult.RETRY
    assert delivery.error is not None and "ConnectionRefusedError" in delivery.error


def test_starttls_against_a_verified_certificate(
    inbox: Inbox, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    with serve(inbox, tls_context=server_tls, require_starttls=True) as port:
        config = settings(port, smtp_security="starttls")
        delivered = MailNotifier(config, ssl_context=client_tls).deliver(event())
        untrusted = MailNotifier(config).deliver(event())  # the system CAs do not know this certificate
        plain = MailNotifier(config.model_copy(update={"smtp_security": "none"})).deliver(event())

    assert delivered.result == DeliveryResult.DELIVERED, delivered.error
    assert untrusted.result == DeliveryResult.RETRY
    assert untrusted.error is not None and "CERTIFICATE_VERIFY_FAILED" in untrusted.error
    assert plain.result == DeliveryResult.REJECTED  # 530: the server insists on STARTTLS
    assert len(inbox.messages) == 1


def test_implicit_tls(inbox: Inbox, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext) -> None:
    with serve(inbox, ssl_context=server_tls) as port:
        delivery = MailNotifier(settings(port, smtp_security="ssl"), ssl_context=client_tls).deliver(event())

    assert delivery.result == DeliveryResult.DELIVERED, delivery.error
    assert len(inbox.messages) == 1


def test_ses_through_moto() -> None:
    fired = event(workflow_id=HOSTILE)
    with mock_aws():
        ses = boto3.client("ses", region_name=REGION)
        config = settings(1, mail_client_type="ses")
        rejected = MailNotifier(config, ses_client=ses).deliver(fired)
        ses.verify_email_identity(EmailAddress=SENDER)
        delivered = MailNotifier(config, ses_client=ses).deliver(fired)
        sent = list(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)

    assert rejected.result == DeliveryResult.REJECTED
    assert rejected.error == f"SES MessageRejected: Did not have authority to send from email {SENDER}"
    assert delivered.result == DeliveryResult.DELIVERED, delivered.error
    assert delivered.detail["via"] == "ses" and delivered.detail["notified"] == RECIPIENT
    [raw] = sent
    assert raw.id == delivered.detail["message_id"]
    assert raw.source == SENDER and RECIPIENT in raw.destinations
    message = email.message_from_string(raw.raw_data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == f"🚀 Workflow Trigger Alert - WEBHOOK - {HOSTILE}"
    assert message[EXECUTION_HEADER] == fired.execution_id
    page = html_part(message)
    assert "<li><strong>Workflow ID:</strong> &lt;script&gt;alert(1)&lt;/script&gt;</li>" in page
    assert "<script>" not in page


def test_ses_throttling_is_a_retry() -> None:
    class Throttled:  # moto never throttles: SES's answer when the sending rate is exceeded
        def send_raw_email(self, **_: Any) -> dict[str, Any]:
            answer: Any = {
                "Error": {"Code": "Throttling", "Message": "Maximum sending rate exceeded."},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            }
            raise ClientError(answer, "SendRawEmail")

    delivery = MailNotifier(settings(1, mail_client_type="ses"), ses_client=Throttled()).deliver(event())

    assert delivery.result == DeliveryResult.RETRY
    assert delivery.error == "SES Throttling: Maximum sending rate exceeded."


def test_settings_are_checked_up_front() -> None:
    with pytest.raises(ValueError, match="SMTP_PASSWORD_SECRET_ARN"):
        MailNotifier(settings(25, smtp_username="mailer"))
    with pytest.raises(ValueError, match="TESTING_EMAIL_RECIPIENT"):
        MailNotifier(MailSettings(testing_mode=False, mail_recipient=None))
