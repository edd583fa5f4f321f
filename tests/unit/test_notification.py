from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from workflow_scheduler.domain.firing import TriggerEvent
from workflow_scheduler.domain.models import TriggerType
from workflow_scheduler.domain.notification import MAX_JSON_CHARS, render_notification, without_secrets

FIRED_AT = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
HOSTILE = "<script>alert('x')</script>"


def event(type_: TriggerType, data: dict[str, Any], workflow_id: str = "wf-1", **extra: Any) -> TriggerEvent:
    return TriggerEvent(
        execution_id="exec_42",
        workflow_id=workflow_id,
        trigger_id="trigger-1",
        trigger_type=type_,
        version=3,
        data=data,
        fired_at=FIRED_AT,
        **extra,
    )


def details(page: str) -> dict[str, str]:
    """The label/value pairs of the HTML lists, unescaped."""
    return {
        html.unescape(label): html.unescape(value)
        for label, value in re.findall(r"<li><strong>(.*?):</strong> (.*?)</li>", page)
    }


def test_common_content_follows_the_seed() -> None:
    note = render_notification(event(TriggerType.MANUAL, {"user_id": "alice"}), {"require_confirmation": True})

    assert note.subject == "🚀 Workflow Trigger Alert - MANUAL - wf-1"
    shown = details(note.html)
    assert shown["Workflow ID"] == "wf-1"
    assert shown["Trigger type"] == "manual"
    assert shown["Execution ID"] == "exec_42"
    assert shown["Trigger time"] == "2026-11-29T09:00:00+00:00"
    assert "the workflow was not executed" in note.html
    assert "the workflow was not executed" in note.text
    assert "&quot;require_confirmation&quot;: true" in note.html  # the config, pretty JSON in a <pre>
    assert '"user_id": "alice"' in note.text


def test_hostile_data_and_workflow_id_are_escaped_everywhere() -> None:
    data = {"body": {"comment": HOSTILE}, "method": HOSTILE, "path": "/hook", HOSTILE: "as a key"}
    note = render_notification(event(TriggerType.WEBHOOK, data, workflow_id=HOSTILE), {"webhook_path": HOSTILE})

    assert "<script" not in note.html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in note.html
    assert details(note.html)["Workflow ID"] == HOSTILE
    assert details(note.html)["Method"] == HOSTILE
    pre = re.findall(r"<pre[^>]*>(.*?)</pre>", note.html, re.DOTALL)
    assert len(pre) == 2 and all("&lt;script&gt;" in block for block in pre)
    # The plain-text part is not HTML: it shows the value as it is.
    assert HOSTILE in note.text


def test_subject_is_one_header_line() -> None:
    data = {"event": "push", "repository": {"full_name": "o/r\r\nBcc: victim@example.com"}}
    note = render_notification(event(TriggerType.GITHUB, data))

    assert "\r" not in note.subject and "\n" not in note.subject
    assert note.subject == "🐙 GitHub Push Trigger - o/r Bcc: victim@example.com"
    long = render_notification(event(TriggerType.MANUAL, {}, workflow_id="w" * 500))
    assert len(long.subject) == 200 and long.subject.endswith("…")


def test_github_pull_request_details() -> None:
    data = {
        "event": "pull_request",
        "action": "opened",
        "repository": {"full_name": "acme/api"},
        "sender": {"login": "octocat"},
        "payload": {"number": 7, "pull_request": {"number": 7, "title": "Fix <b>it</b>", "base": {"ref": "main"}}},
    }
    note = render_notification(event(TriggerType.GITHUB, data))

    assert note.subject == "🐙 GitHub Pull Request Trigger - acme/api"
    assert "<h3>GitHub event details</h3>" in note.html
    shown = details(note.html)
    assert shown["Repository"] == "acme/api"
    assert shown["Event"] == "pull_request"
    assert shown["Action"] == "opened"
    assert shown["Sender"] == "octocat"
    assert shown["PR #"] == "7"
    assert shown["Title"] == "Fix <b>it</b>"
    assert shown["Base branch"] == "main"


def test_github_push_details_and_missing_values() -> None:
    data = {"event": "push", "repository": "acme/api", "payload": {"ref": "refs/heads/main", "commits": [{}, {}]}}
    shown = details(render_notification(event(TriggerType.GITHUB, data)).html)

    assert shown["Repository"] == "acme/api"
    assert shown["Action"] == "N/A"
    assert shown["Sender"] == "N/A"
    assert shown["Ref"] == "refs/heads/main"
    assert shown["Commits"] == "2"


def test_webhook_details() -> None:
    data = {"method": "POST", "path": "/webhook/wf-1", "source_ip": "203.0.113.9", "body": {"a": 1}}
    note = render_notification(event(TriggerType.WEBHOOK, data))

    assert note.subject == "🚀 Workflow Trigger Alert - WEBHOOK - wf-1"
    assert "<h3>Webhook request details</h3>" in note.html
    shown = details(note.html)
    assert (shown["Method"], shown["Path"], shown["Source IP"]) == ("POST", "/webhook/wf-1", "203.0.113.9")


def test_cron_details_fall_back_to_the_config() -> None:
    data = {"scheduled_time": "2026-11-30T14:00:00Z"}
    config = {"cron_expression": "0 9 * * MON-FRI", "timezone": "America/New_York"}
    note = render_notification(event(TriggerType.CRON, data), config)

    assert "<h3>Schedule details</h3>" in note.html
    shown = details(note.html)
    assert shown["Scheduled time"] == "2026-11-30T14:00:00Z"
    assert shown["Timezone"] == "America/New_York"
    assert shown["Cron expression"] == "0 9 * * MON-FRI"
    assert "  Timezone: America/New_York" in note.text


def test_manual_details() -> None:
    data = {"trigger_time": "2026-11-29T09:00:00+00:00", "user_id": "alice", "inputs": {"env": "qa", "n": 2}}
    shown = details(render_notification(event(TriggerType.MANUAL, data)).html)

    assert shown["User"] == "alice"
    assert shown["Inputs"] == "env, n"


def test_email_details() -> None:
    data = {"from": "GitHub <noreply@github.com>", "subject": "[acme/api] Run failed", "date": "Sun, 29 Nov 2026"}
    note = render_notification(event(TriggerType.EMAIL, data), {"email_filter": "from:noreply@github.com"})

    assert "<h3>E-mail details</h3>" in note.html
    shown = details(note.html)
    assert shown["From"] == "GitHub <noreply@github.com>"
    assert shown["Subject"] == "[acme/api] Run failed"
    assert shown["Filter"] == "from:noreply@github.com"


@pytest.mark.parametrize("type_", list(TriggerType))
def test_every_trigger_type_renders_with_empty_data(type_: TriggerType) -> None:
    note = render_notification(event(type_, {}))

    assert type_.value.upper() in note.subject
    assert "N/A" in note.html
    assert "(not available)" in note.html  # no config given


def test_secrets_are_dropped_at_any_depth() -> None:
    data = {
        "headers": {"Authorization": "Bearer tok-1", "X-Api-Key": "key-1", "content-type": "application/json"},
        "body": {"items": [{"password": "pw-1", "name": "kept"}], "client_secret": "cs-1", "access_token": "at-1"},
    }
    config = {"auth": {"type": "hmac_sha256", "header": "X-Sig", "secret": "s-1", "secret_ref": "arn:s"}}
    note = render_notification(event(TriggerType.WEBHOOK, data), config)

    for secret in ("tok-1", "key-1", "pw-1", "cs-1", "at-1", "s-1", "arn:s"):
        assert secret not in note.html and secret not in note.text
    assert "kept" in note.html and "hmac_sha256" in note.html and "application/json" in note.html


def test_without_secrets_leaves_the_input_alone() -> None:
    original = {"token": "t", "list": [{"Private_Key": "k", "a": 1}], "x": ("y",)}

    assert without_secrets(original) == {"list": [{"a": 1}], "x": ["y"]}
    assert original["token"] == "t"


def test_large_data_is_truncated_and_stored_payloads_are_named() -> None:
    note = render_notification(event(TriggerType.WEBHOOK, {"body": "x" * (MAX_JSON_CHARS * 2)}))
    assert "(truncated:" in note.html
    assert len(note.html) < MAX_JSON_CHARS + 10_000

    stored = render_notification(event(TriggerType.WEBHOOK, {}, payload_stored=True))
    assert "kept in the firing store" in stored.html
