"""What an operator chooses per deployment, read from the CDK context and checked before anything is built.

Values come from `cdk deploy -c key=value` (always strings) or the "context" of cdk.json / cdk.context.json (JSON
values); both forms are accepted. A wrong value fails the synthesis with a message that names the key, rather
than a function that refuses to start after the deployment. docs/deploy.md lists every key.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from constructs import Construct

from infra_cdk.constants import (
    CTX_ALARM_EMAIL,
    CTX_DISPATCH_MAX_CONCURRENCY,
    CTX_EMAIL_ALLOWED_PRIVATE_CIDRS,
    CTX_EMAIL_CLIENT_TYPE,
    CTX_EMAIL_FROM,
    CTX_FIRING_RETENTION_DAYS,
    CTX_GITHUB_API_URL,
    CTX_GITHUB_APP_ID,
    CTX_GITHUB_APP_PRIVATE_KEY_SECRET_ARN,
    CTX_GITHUB_RATE_LIMIT_PER_ADDRESS,
    CTX_GITHUB_WEBHOOK_SECRET_ARN,
    CTX_RATE_LIMIT_PER_ADDRESS,
    CTX_RATE_LIMIT_PER_TOKEN,
    CTX_RATE_LIMIT_WINDOW_SECONDS,
    CTX_SES_IDENTITIES,
    CTX_SMTP_HOST,
    CTX_SMTP_PASSWORD_SECRET_ARN,
    CTX_SMTP_PORT,
    CTX_SMTP_SECURITY,
    CTX_SMTP_USERNAME,
    CTX_TESTING_EMAIL_RECIPIENT,
    CTX_TESTING_MODE,
    CTX_WEBHOOK_MAX_BODY_BYTES,
    CTX_WEBHOOK_SECRET_ARNS,
    CTX_WORKFLOW_ENGINE_URL,
    DEFAULT_DISPATCH_MAX_CONCURRENCY,
    DEFAULT_FIRING_RETENTION_DAYS,
    DEFAULT_GITHUB_API_URL,
    DEFAULT_GITHUB_RATE_LIMIT_PER_ADDRESS,
    DEFAULT_MAIL_FROM,
    DEFAULT_RATE_LIMIT_PER_ADDRESS,
    DEFAULT_RATE_LIMIT_PER_TOKEN,
    DEFAULT_RATE_LIMIT_WINDOW_SECONDS,
    DEFAULT_SMTP_PORT,
    DEFAULT_SMTP_SECURITY,
    DEFAULT_WORKFLOW_ENGINE_URL,
    DISPATCH_MAX_CONCURRENCY_RANGE,
    FIRING_RETENTION_DAYS_RANGE,
    RATE_LIMIT_RANGE,
    RATE_LIMIT_WINDOW_SECONDS_CHOICES,
    WEBHOOK_MAX_BODY_BYTES_RANGE,
)
from workflow_scheduler.domain.outbound import private_networks

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")
# A secret's ARN, possibly with IAM wildcards in its name: arn:aws:secretsmanager:eu-west-1:123456789012:secret:x
_SECRET_ARN = re.compile(r"^arn:[a-z-]+:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@*?-]+$")
# A complete secret ARN ends with the 6 random characters Secrets Manager appends to the name.
_COMPLETE_SECRET_ARN = re.compile(r"^arn:[a-z-]+:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-\w{6}$")
_GITHUB_APP_ID = re.compile(r"^\d{1,20}$")
_CLIENT_TYPES = ("smtp", "ses")
_SMTP_SECURITY = ("starttls", "ssl", "none")


class ConfigError(ValueError):
    """A context value the stack cannot use."""


@dataclass(frozen=True)
class TestingMail:
    """Testing mode (docs/decisions.md): the dispatch function e-mails each firing instead of calling the engine."""

    recipient: str
    client_type: str
    sender: str
    ses_identities: tuple[str, ...]
    smtp_host: str | None
    smtp_port: int
    smtp_security: str
    smtp_username: str | None
    smtp_password_secret_arn: str | None


@dataclass(frozen=True)
class GithubAppConfig:
    """The GitHub App whose deliveries the service takes. Its two secrets are the stack's own unless their ARNs
    are given (an App already set up elsewhere); without ``app_id`` what needs GitHub's API is refused."""

    app_id: str | None = None
    api_url: str = DEFAULT_GITHUB_API_URL
    webhook_secret_arn: str | None = None
    private_key_secret_arn: str | None = None


@dataclass(frozen=True)
class RateLimits:
    """Per-caller limits of the WAF in front of the API (docs/deploy.md "Rate limits"): at most ``per_token``
    requests in ``window_seconds`` with one bearer token on /v1, ``per_address`` from one source address on every
    route but GitHub's, ``github_per_address`` from one address on GitHub's."""

    window_seconds: int = DEFAULT_RATE_LIMIT_WINDOW_SECONDS
    per_token: int = DEFAULT_RATE_LIMIT_PER_TOKEN
    per_address: int = DEFAULT_RATE_LIMIT_PER_ADDRESS
    github_per_address: int = DEFAULT_GITHUB_RATE_LIMIT_PER_ADDRESS


@dataclass(frozen=True)
class StackConfig:
    workflow_engine_url: str
    webhook_secret_arns: tuple[str, ...]  # secret_refs outside the managed prefix that webhooks may read
    webhook_max_body_bytes: int | None  # None: the function's default (1 MiB)
    dispatch_max_concurrency: int
    alarm_email: str | None
    testing: TestingMail | None  # None: the engine is called
    github: GithubAppConfig
    firing_retention_days: int = DEFAULT_FIRING_RETENTION_DAYS
    # Private networks of the operator's own mail servers that e-mail triggers may reach (docs/deploy.md).
    email_allowed_private_cidrs: tuple[str, ...] = ()
    rate_limits: RateLimits = RateLimits()

    @classmethod
    def from_context(cls, scope: Construct) -> StackConfig:
        ctx = _Context(scope)
        engine_url = ctx.text(CTX_WORKFLOW_ENGINE_URL) or DEFAULT_WORKFLOW_ENGINE_URL
        if not _URL.match(engine_url):
            raise ConfigError(f"{CTX_WORKFLOW_ENGINE_URL} must be an http(s) URL, not {engine_url!r}")
        secret_arns = ctx.strings(CTX_WEBHOOK_SECRET_ARNS)
        for arn in secret_arns:
            if not _SECRET_ARN.match(arn):
                raise ConfigError(f"{CTX_WEBHOOK_SECRET_ARNS}: {arn!r} is not a Secrets Manager secret ARN")
        alarm_email = ctx.text(CTX_ALARM_EMAIL)
        if alarm_email is not None and not _EMAIL.match(alarm_email):
            raise ConfigError(f"{CTX_ALARM_EMAIL} must be an e-mail address, not {alarm_email!r}")
        return cls(
            workflow_engine_url=engine_url.rstrip("/"),
            webhook_secret_arns=secret_arns,
            webhook_max_body_bytes=ctx.integer(CTX_WEBHOOK_MAX_BODY_BYTES, WEBHOOK_MAX_BODY_BYTES_RANGE),
            dispatch_max_concurrency=ctx.integer(CTX_DISPATCH_MAX_CONCURRENCY, DISPATCH_MAX_CONCURRENCY_RANGE)
            or DEFAULT_DISPATCH_MAX_CONCURRENCY,
            alarm_email=alarm_email,
            testing=_testing_mail(ctx) if ctx.boolean(CTX_TESTING_MODE) else None,
            github=_github_app(ctx),
            firing_retention_days=ctx.integer(CTX_FIRING_RETENTION_DAYS, FIRING_RETENTION_DAYS_RANGE)
            or DEFAULT_FIRING_RETENTION_DAYS,
            email_allowed_private_cidrs=_private_cidrs(ctx),
            rate_limits=_rate_limits(ctx),
        )


def _rate_limits(ctx: _Context) -> RateLimits:
    windows = RATE_LIMIT_WINDOW_SECONDS_CHOICES
    window = ctx.integer(CTX_RATE_LIMIT_WINDOW_SECONDS, (windows[0], windows[-1]))
    if window is not None and window not in windows:
        choices = ", ".join(map(str, windows))
        raise ConfigError(f"{CTX_RATE_LIMIT_WINDOW_SECONDS} must be one of {choices} (WAF's windows), not {window}")
    return RateLimits(
        window_seconds=window or DEFAULT_RATE_LIMIT_WINDOW_SECONDS,
        per_token=ctx.integer(CTX_RATE_LIMIT_PER_TOKEN, RATE_LIMIT_RANGE) or DEFAULT_RATE_LIMIT_PER_TOKEN,
        per_address=ctx.integer(CTX_RATE_LIMIT_PER_ADDRESS, RATE_LIMIT_RANGE) or DEFAULT_RATE_LIMIT_PER_ADDRESS,
        github_per_address=ctx.integer(CTX_GITHUB_RATE_LIMIT_PER_ADDRESS, RATE_LIMIT_RANGE)
        or DEFAULT_GITHUB_RATE_LIMIT_PER_ADDRESS,
    )


def _private_cidrs(ctx: _Context) -> tuple[str, ...]:
    """Checked at synth as the functions' settings check them (domain/outbound.py), not by functions that fail."""
    try:
        return tuple(
            str(network) for network in private_networks(",".join(ctx.strings(CTX_EMAIL_ALLOWED_PRIVATE_CIDRS)))
        )
    except ValueError as exc:
        raise ConfigError(f"{CTX_EMAIL_ALLOWED_PRIVATE_CIDRS}: {exc}") from None


def _github_app(ctx: _Context) -> GithubAppConfig:
    app_id = ctx.text(CTX_GITHUB_APP_ID)
    if app_id is not None and not _GITHUB_APP_ID.match(app_id):
        raise ConfigError(f"{CTX_GITHUB_APP_ID} must be the App's numeric id, not {app_id!r}")
    api_url = ctx.text(CTX_GITHUB_API_URL) or DEFAULT_GITHUB_API_URL
    if not _URL.match(api_url):
        raise ConfigError(f"{CTX_GITHUB_API_URL} must be an http(s) URL, not {api_url!r}")
    arns = {key: ctx.text(key) for key in (CTX_GITHUB_WEBHOOK_SECRET_ARN, CTX_GITHUB_APP_PRIVATE_KEY_SECRET_ARN)}
    for key, arn in arns.items():
        if arn is not None and not _COMPLETE_SECRET_ARN.match(arn):
            raise ConfigError(f"{key} must be a secret's complete ARN (ending in its 6-character suffix)")
    return GithubAppConfig(
        app_id=app_id,
        api_url=api_url.rstrip("/"),
        webhook_secret_arn=arns[CTX_GITHUB_WEBHOOK_SECRET_ARN],
        private_key_secret_arn=arns[CTX_GITHUB_APP_PRIVATE_KEY_SECRET_ARN],
    )


def _testing_mail(ctx: _Context) -> TestingMail:
    recipient = ctx.text(CTX_TESTING_EMAIL_RECIPIENT)
    if recipient is None or not _EMAIL.match(recipient):
        raise ConfigError(f"{CTX_TESTING_MODE}=true needs {CTX_TESTING_EMAIL_RECIPIENT} (an e-mail address)")
    client_type = ctx.choice(CTX_EMAIL_CLIENT_TYPE, _CLIENT_TYPES, "smtp")
    sender = ctx.text(CTX_EMAIL_FROM) or DEFAULT_MAIL_FROM
    if not _EMAIL.match(sender):
        raise ConfigError(f"{CTX_EMAIL_FROM} must be an e-mail address, not {sender!r}")
    smtp_host = ctx.text(CTX_SMTP_HOST)
    password_arn = ctx.text(CTX_SMTP_PASSWORD_SECRET_ARN)
    if client_type == "ses":
        if sender == DEFAULT_MAIL_FROM:
            raise ConfigError(f"{CTX_EMAIL_CLIENT_TYPE}=ses needs {CTX_EMAIL_FROM}: an address of a verified identity")
        # The identities SES authorizes the send against: the From address or its domain (whichever is
        # verified) and, while the account is in the SES sandbox, the recipient's.
        default_identities = (sender.partition("@")[2], sender, recipient)
        identities = ctx.strings(CTX_SES_IDENTITIES) or tuple(dict.fromkeys(default_identities))
    else:
        identities = ()
        if smtp_host is None:
            raise ConfigError(f"{CTX_EMAIL_CLIENT_TYPE}=smtp needs {CTX_SMTP_HOST}")
    if password_arn is not None and not _COMPLETE_SECRET_ARN.match(password_arn):
        raise ConfigError(
            f"{CTX_SMTP_PASSWORD_SECRET_ARN} must be a secret's complete ARN (ending in its 6-character suffix)"
        )
    username = ctx.text(CTX_SMTP_USERNAME)
    if username is not None and password_arn is None:
        raise ConfigError(f"{CTX_SMTP_USERNAME} needs {CTX_SMTP_PASSWORD_SECRET_ARN}: the password's secret")
    return TestingMail(
        recipient=recipient,
        client_type=client_type,
        sender=sender,
        ses_identities=identities,
        smtp_host=smtp_host,
        smtp_port=ctx.integer(CTX_SMTP_PORT, (1, 65535)) or DEFAULT_SMTP_PORT,
        smtp_security=ctx.choice(CTX_SMTP_SECURITY, _SMTP_SECURITY, DEFAULT_SMTP_SECURITY),
        smtp_username=username,
        smtp_password_secret_arn=password_arn,
    )


class _Context:
    """Typed reads of context values given as JSON values or as the strings of `-c key=value`."""

    def __init__(self, scope: Construct) -> None:
        self._scope = scope

    def _raw(self, key: str) -> Any:
        value = self._scope.node.try_get_context(key)
        return None if value == "" else value

    def text(self, key: str) -> str | None:
        value = self._raw(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, not {value!r}")
        return value.strip() or None

    def boolean(self, key: str) -> bool:
        value = self._raw(key)
        if value is None or isinstance(value, bool):
            return bool(value)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ConfigError(f"{key} must be true or false, not {value!r}")

    def integer(self, key: str, bounds: tuple[int, int]) -> int | None:
        """The number, or None when the key is not set."""
        value = self._raw(key)
        if value is None:
            return None
        try:
            number = int(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is None or not bounds[0] <= number <= bounds[1]:
            raise ConfigError(f"{key} must be a whole number from {bounds[0]} to {bounds[1]}, not {value!r}")
        return number

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.text(key) or default
        if value not in choices:
            raise ConfigError(f"{key} must be one of {', '.join(choices)}, not {value!r}")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        """A JSON list of strings, or (from the command line) a JSON list or comma-separated string."""
        value = self._raw(key)
        if isinstance(value, str):
            text = value.strip()
            try:
                value = json.loads(text) if text.startswith("[") else text.split(",")
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{key} is not a valid JSON list: {exc}") from exc
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ConfigError(f"{key} must be a list of strings, not {value!r}")
        return tuple(item.strip() for item in value if item.strip())
