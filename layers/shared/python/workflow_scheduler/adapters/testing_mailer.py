"""Testing mode (docs/decisions.md): deliver a firing as a notification e-mail, over SMTP or SES, not to the engine.

Both transports send the same MIME message (multipart/alternative, text and HTML), so the headers, among them
``X-Workflow-Execution-Id``, are the same whichever is configured. Outcomes follow the dispatch rules: transient
failures are retried by the queue (and parked in the DLQ when they persist), permanent ones are recorded.
"""

from __future__ import annotations

import contextlib
import email.policy
import smtplib
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from workflow_scheduler.adapters.secrets import read_secret
from workflow_scheduler.domain.delivery import Delivery, DeliveryResult
from workflow_scheduler.domain.errors import SecretUnavailable
from workflow_scheduler.domain.firing import TriggerEvent
from workflow_scheduler.domain.notification import render_notification
from workflow_scheduler.settings import TestingMailSettings

SENDER_NAME = "Workflow Scheduler Testing"
EXECUTION_HEADER = "X-Workflow-Execution-Id"
_SES_TRANSIENT = frozenset(
    {"Throttling", "ThrottlingException", "TooManyRequestsException", "ServiceUnavailable", "InternalFailure"}
)


class _Failed(Exception):
    """A send that did not go through, already classified; the message never contains a secret."""

    def __init__(self, result: DeliveryResult, error: str) -> None:
        super().__init__(error)
        self.result = result
        self.error = error


class MailNotifier:
    """A ``Deliverer`` for testing mode: one notification e-mail per firing to the testing recipient."""

    def __init__(
        self,
        settings: TestingMailSettings,
        ses_client: Any = None,
        secret_reader: Callable[[str], str] = read_secret,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not settings.mail_recipient:
            raise ValueError("testing mode needs TESTING_EMAIL_RECIPIENT")
        if settings.smtp_username and not settings.smtp_password_secret_arn:
            raise ValueError("SMTP_USERNAME needs SMTP_PASSWORD_SECRET_ARN (the password lives in Secrets Manager)")
        self._settings = settings
        self._recipient = settings.mail_recipient
        self._ses_client = ses_client
        self._read_secret = secret_reader
        # Verifies the server's certificate and host name; a test passes one trusting its own CA.
        self._ssl_context = ssl_context or ssl.create_default_context()
        name, address = parseaddr(settings.mail_from)
        self._sender_address = address
        self._from_header = formataddr((name or SENDER_NAME, address))

    def deliver(self, event: TriggerEvent) -> Delivery:
        message = self._message(event)
        via = self._settings.mail_client_type
        started = time.monotonic()
        try:
            message_id = self._send_ses(message) if via == "ses" else self._send_smtp(message)
        except _Failed as failed:
            return Delivery(failed.result, _elapsed_ms(started), error=failed.error, detail={"via": via})
        detail = {"notified": self._recipient, "via": via, "message_id": message_id}
        return Delivery(DeliveryResult.DELIVERED, _elapsed_ms(started), detail=detail)

    def _message(self, event: TriggerEvent) -> EmailMessage:
        notification = render_notification(event)
        message = EmailMessage()
        message["From"] = self._from_header
        message["To"] = self._recipient
        message["Subject"] = notification.subject  # encoded as RFC 2047 on output: the emoji survives
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = make_msgid(domain=self._sender_address.rpartition("@")[2] or None)
        message[EXECUTION_HEADER] = event.execution_id
        # Quoted-printable keeps the body 7-bit: no dependence on the server's 8BITMIME support.
        message.set_content(notification.text, cte="quoted-printable")
        message.add_alternative(notification.html, subtype="html", cte="quoted-printable")
        return message

    def _send_smtp(self, message: EmailMessage) -> str:
        settings = self._settings
        password: str | None = None
        try:
            if settings.smtp_username and settings.smtp_password_secret_arn:
                password = self._read_secret(settings.smtp_password_secret_arn)
            connection = self._connect()
            try:
                if settings.smtp_username and password is not None:
                    connection.login(settings.smtp_username, password)
                connection.send_message(message, from_addr=self._sender_address, to_addrs=[self._recipient])
            finally:
                # The mail is accepted once send_message returns: a failed QUIT must not turn it into a retry.
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    connection.quit()
                connection.close()
        except SecretUnavailable as exc:
            raise _Failed(DeliveryResult.RETRY, exc.message) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            raise _smtp_failure(code, reply, password, "recipient refused") from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise _smtp_failure(exc.smtp_code, exc.smtp_error, password, "SMTP login refused") from exc
        except smtplib.SMTPResponseException as exc:
            raise _smtp_failure(exc.smtp_code, exc.smtp_error, password, "SMTP server refused") from exc
        except (smtplib.SMTPException, OSError) as exc:  # disconnects, refused connections, timeouts, TLS errors
            error = f"SMTP {settings.smtp_host}:{settings.smtp_port} unavailable: {type(exc).__name__}: {exc}"
            raise _Failed(DeliveryResult.RETRY, _scrub(error, password)) from exc
        return str(message["Message-ID"])

    def _connect(self) -> smtplib.SMTP:
        settings = self._settings
        host, port, timeout = settings.smtp_host, settings.smtp_port, settings.smtp_timeout_seconds
        if settings.smtp_security == "ssl":
            return smtplib.SMTP_SSL(host, port, timeout=timeout, context=self._ssl_context)
        connection = smtplib.SMTP(host, port, timeout=timeout)
        if settings.smtp_security == "starttls":
            try:
                connection.starttls(context=self._ssl_context)
            except BaseException:
                connection.close()
                raise
        return connection

    def _send_ses(self, message: EmailMessage) -> str:
        try:
            response = self._ses().send_raw_email(
                Source=self._sender_address,
                Destinations=[self._recipient],
                RawMessage={"Data": message.as_bytes(policy=email.policy.SMTP)},  # CRLF line ends, as on the wire
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            transient = code in _SES_TRANSIENT or status >= 500
            result = DeliveryResult.RETRY if transient else DeliveryResult.REJECTED
            raise _Failed(result, f"SES {code}: {error.get('Message', '')}") from exc
        except BotoCoreError as exc:  # endpoint unreachable, timeouts
            raise _Failed(DeliveryResult.RETRY, f"SES unavailable: {exc}") from exc
        return str(response["MessageId"])

    def _ses(self) -> Any:
        if self._ses_client is None:
            import boto3
            from botocore.config import Config

            # One bound for how long a notification may take, whichever transport; few quick attempts, because
            # the dispatch queue owns retries with backoff.
            timeout = self._settings.smtp_timeout_seconds
            config = Config(
                connect_timeout=timeout, read_timeout=timeout, retries={"mode": "standard", "max_attempts": 2}
            )
            self._ses_client = boto3.client("ses", config=config)
        return self._ses_client


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _scrub(text: str, password: str | None) -> str:
    """Servers may echo what they were sent; the password never reaches the audit row."""
    return text.replace(password, "***") if password else text


def _smtp_failure(code: int, reply: bytes | str, password: str | None, what: str) -> _Failed:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    # 5xx replies are permanent (RFC 5321 4.2.1); 4xx are temporary, and so is anything unexpected.
    result = DeliveryResult.REJECTED if 500 <= code < 600 else DeliveryResult.RETRY
    return _Failed(result, _scrub(f"{what}: {code} {text}", password))
