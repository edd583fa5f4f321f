"""E-mail trigger parameters (unit): the issue's names and defaults, one mailbox and one credential, the filter
refused at deploy naming the position, and a password never quoted back."""

from __future__ import annotations

from typing import Any

import pytest

from workflow_scheduler.domain.errors import SpecInvalid
from workflow_scheduler.domain.inline_secrets import extract_inline_secrets, managed_secret_name, named_secrets
from workflow_scheduler.domain.models import TriggerType
from workflow_scheduler.domain.spec import parse_workflow_spec

PASSWORD = "hunter2-Pa55word"
OAUTH = {
    "imap_host": "outlook.office365.com",
    "username": "ci@example.com",
    "auth": "xoauth2",
    "oauth_token_url": "https://login.microsoftonline.com/tenant/oauth2/v2.0/token",
    "oauth_client_id": "client-id",
}


def config(**parameters: Any) -> dict[str, Any]:
    node = {"id": "mail", "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_EMAIL", "parameters": parameters}
    return parse_workflow_spec({"nodes": [node]}).triggers[0].config


def problems(**parameters: Any) -> list[dict[str, str]]:
    with pytest.raises(SpecInvalid) as refused:
        config(**parameters)
    found: list[dict[str, str]] = refused.value.extra_body()["problems"]
    return found


def test_the_defaults_are_the_issues() -> None:
    assert config() == {
        "imap_host": None,
        "imap_port": 993,
        "use_ssl": True,
        "username": None,
        "auth": "password",
        "password": None,
        "password_ref": None,
        "oauth_token_url": None,
        "oauth_client_id": None,
        "oauth_client_secret_ref": None,
        "oauth_refresh_token_ref": None,
        "oauth_scope": None,
        "folder": "INBOX",
        "email_filter": "",
        "mark_as_read": False,
        "attachment_processing": "exclude",
        "check_interval": None,
        "process_existing": False,
    }
    assert (
        config(attachment_processing="metadata", use_ssl=False, imap_host="h", username="u", password_ref="r")[
            "attachment_processing"
        ]
        == "metadata"
    )


def test_a_filter_that_does_not_parse_is_refused_naming_the_position() -> None:
    assert problems(email_filter='from:ci subject:"build failed') == [
        {
            "field": "parameters.email_filter",
            "message": "unterminated quoted phrase at position 17",
            "node_id": "mail",
        }
    ]


@pytest.mark.parametrize(
    ("parameters", "says"),
    [
        ({"username": "ci"}, "username: only with 'imap_host'"),
        ({"imap_host": "imap.example.com", "password_ref": "r"}, "needs 'username'"),
        ({"imap_host": "imap.example.com", "username": "ci"}, "needs 'password' or 'password_ref'"),
        ({"imap_host": "imap.example.com", "username": "ci", "password": "x", "password_ref": "r"}, "not both"),
        ({**OAUTH}, "needs 'oauth_refresh_token_ref' or 'oauth_client_secret_ref'"),
        ({**OAUTH, "oauth_refresh_token_ref": "r", "password_ref": "p"}, "give no 'password'"),
        ({**OAUTH, "oauth_refresh_token_ref": "r", "oauth_token_url": "http://login.example.com/t"}, "must be https"),
        ({"attachment_processing": "all"}, "'include', 'exclude' or 'metadata'"),
        ({"imap_ssl": True}, "Extra inputs are not permitted"),
    ],
)
def test_one_mailbox_and_one_credential(parameters: dict[str, Any], says: str) -> None:
    assert says in str(problems(**parameters))


def test_an_oauth_client_names_its_secrets_and_each_is_owner_checked_at_deploy() -> None:
    found = config(**OAUTH, oauth_client_secret_ref="team/client", oauth_refresh_token_ref="team/refresh")
    assert found["auth"] == "xoauth2"
    assert named_secrets(TriggerType.EMAIL, found) == [
        ("oauth_client_secret_ref", "team/client"),
        ("oauth_refresh_token_ref", "team/refresh"),
    ]


def test_an_inline_password_moves_into_a_managed_secret_and_is_never_quoted_back() -> None:
    node = {
        "id": "mail",
        "node_type": "TRIGGER_NODE",
        "subtype": "TRIGGER_EMAIL",
        "parameters": {"imap_host": "imap.example.com", "username": "ci", "password": PASSWORD},
    }
    redacted, lifted = extract_inline_secrets({"nodes": [node]}, "wf")
    assert redacted["nodes"][0]["parameters"]["password_ref"] == managed_secret_name("wf", "mail")
    assert PASSWORD not in str(redacted) and lifted[managed_secret_name("wf", "mail")].value == PASSWORD

    both = problems(imap_host="imap.example.com", username="ci", password=PASSWORD, password_ref="r")
    too_long = {**node, "parameters": {**node["parameters"], "password": PASSWORD * 100}}
    with pytest.raises(SpecInvalid) as refused:
        extract_inline_secrets({"nodes": [too_long]}, "wf")
    assert PASSWORD not in str(both) and PASSWORD not in str(refused.value.extra_body())
