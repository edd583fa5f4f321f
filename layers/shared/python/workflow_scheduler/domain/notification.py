"""Testing mode (docs/decisions.md): the notification e-mail sent instead of running the workflow.

Everything shown comes from outside (webhook bodies, e-mail subjects, GitHub payloads), so every value is
HTML-escaped and keys that look like credentials are left out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import Any

from workflow_scheduler.domain.firing import TriggerEvent
from workflow_scheduler.domain.models import TriggerType

# Keys whose values are never shown, at any depth of the data or the config.
_SECRET_KEY = re.compile(
    r"secret|passw|token|authori[sz]ation|api[-_]?key|private[-_]?key|credential|signature|cookie", re.IGNORECASE
)
# Trigger data can be close to 1 MiB; the mail stays readable and well under providers' size limits.
MAX_JSON_CHARS = 100_000
MAX_SUBJECT_CHARS = 200
_PRE_STYLE = "background: #f5f5f5; padding: 10px; border-radius: 5px; white-space: pre-wrap;"
NOT_EXECUTED = "This is a testing-mode notification: the workflow was not executed."


@dataclass(frozen=True)
class Notification:
    subject: str
    html: str
    text: str


def without_secrets(value: Any) -> Any:
    """A copy of ``value`` with every mapping key that names a credential dropped, at any depth."""
    if isinstance(value, dict):
        return {k: without_secrets(v) for k, v in value.items() if not _SECRET_KEY.search(str(k))}
    if isinstance(value, list | tuple):
        return [without_secrets(v) for v in value]
    return value


def _dig(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "N/A"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _pretty(value: Any) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    if len(text) > MAX_JSON_CHARS:
        return f"{text[:MAX_JSON_CHARS]}\n… (truncated: {len(text)} characters in all)"
    return text


def _one_line(text: str) -> str:
    """A header-safe subject: no line breaks or control characters (they would split or inject headers)."""
    line = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return line if len(line) <= MAX_SUBJECT_CHARS else line[: MAX_SUBJECT_CHARS - 1] + "…"


def _github_repository(data: dict[str, Any]) -> Any:
    repo = data.get("repository")
    return _dig(repo, "full_name") if isinstance(repo, dict) else repo


def _github_details(data: dict[str, Any], _config: dict[str, Any]) -> list[tuple[str, Any]]:
    event = data.get("event")
    details: list[tuple[str, Any]] = [
        ("Repository", _github_repository(data)),
        ("Event", event),
        ("Action", data.get("action")),
        ("Sender", _dig(data, "sender", "login")),
    ]
    payload = _mapping(data.get("payload"))
    if event == "pull_request":
        pr = _mapping(payload.get("pull_request")) or payload
        details += [
            ("PR #", pr.get("number", payload.get("number"))),
            ("Title", pr.get("title")),
            ("Base branch", _dig(pr, "base", "ref")),
        ]
    elif event == "push":
        commits = payload.get("commits")
        details += [("Ref", payload.get("ref")), ("Commits", len(commits) if isinstance(commits, list) else None)]
    return details


def _webhook_details(data: dict[str, Any], _config: dict[str, Any]) -> list[tuple[str, Any]]:
    return [("Method", data.get("method")), ("Path", data.get("path")), ("Source IP", data.get("source_ip"))]


def _cron_details(data: dict[str, Any], config: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        ("Scheduled time", data.get("scheduled_time")),
        ("Timezone", data.get("timezone") or config.get("timezone")),
        ("Cron expression", data.get("cron_expression") or config.get("cron_expression")),
    ]


def _manual_details(data: dict[str, Any], _config: dict[str, Any]) -> list[tuple[str, Any]]:
    inputs = data.get("inputs")
    return [("User", data.get("user_id")), ("Inputs", ", ".join(map(str, inputs)) if inputs else None)]


def _email_details(data: dict[str, Any], config: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        ("From", data.get("from") or data.get("sender")),
        ("Subject", data.get("subject")),
        ("Date", data.get("date") or data.get("received_at")),
        ("Filter", config.get("email_filter")),
    ]


_DETAILS: dict[TriggerType, tuple[str, Callable[[dict[str, Any], dict[str, Any]], list[tuple[str, Any]]]]] = {
    TriggerType.GITHUB: ("GitHub event details", _github_details),
    TriggerType.WEBHOOK: ("Webhook request details", _webhook_details),
    TriggerType.CRON: ("Schedule details", _cron_details),
    TriggerType.MANUAL: ("Manual run details", _manual_details),
    TriggerType.EMAIL: ("E-mail details", _email_details),
}


def _subject(event: TriggerEvent, data: dict[str, Any]) -> str:
    if event.trigger_type == TriggerType.GITHUB and data.get("event"):
        repository = _shown(_github_repository(data))
        return _one_line(f"🐙 GitHub {str(data['event']).replace('_', ' ').title()} Trigger - {repository}")
    return _one_line(f"🚀 Workflow Trigger Alert - {event.trigger_type.value.upper()} - {event.workflow_id}")


def _html_list(items: list[tuple[str, Any]]) -> str:
    rows = "".join(f"<li><strong>{escape(label)}:</strong> {escape(_shown(value))}</li>" for label, value in items)
    return f"<ul>{rows}</ul>"


def _text_list(items: list[tuple[str, Any]]) -> str:
    return "\n".join(f"  {label}: {_shown(value)}" for label, value in items)


def render_notification(event: TriggerEvent, config: dict[str, Any] | None = None) -> Notification:
    """The testing-mode e-mail for a firing; ``config`` is the trigger's parameters when the caller has them."""
    data: dict[str, Any] = without_secrets(event.data)
    shown_config = without_secrets(config) if config is not None else None
    subject = _subject(event, data)
    summary = [
        ("Workflow ID", event.workflow_id),
        ("Trigger type", event.trigger_type.value),
        ("Trigger ID", event.trigger_id),
        ("Execution ID", event.execution_id),
        ("Deployment version", event.version),
        ("Trigger time", event.fired_at.isoformat()),
    ]
    title, pick = _DETAILS[event.trigger_type]
    details = pick(data, shown_config or {})
    if event.payload_stored and not data:
        data_json = "(too large for the queue message: kept in the firing store under the execution id)"
    else:
        data_json = _pretty(data)
    config_json = _pretty(shown_config) if shown_config is not None else "(not available)"

    html = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>'
        f"{escape(subject)}</title></head><body>\n"
        "<h2>Workflow Scheduler testing notification</h2>\n"
        f"<p><strong>Trigger details:</strong></p>\n{_html_list(summary)}\n"
        f"<h3>{escape(title)}</h3>\n{_html_list(details)}\n"
        f'<p><strong>Trigger data:</strong></p>\n<pre style="{_PRE_STYLE}">{escape(data_json)}</pre>\n'
        f'<p><strong>Trigger configuration:</strong></p>\n<pre style="{_PRE_STYLE}">{escape(config_json)}</pre>\n'
        f"<hr>\n<p><em>{escape(NOT_EXECUTED)}</em></p>\n</body></html>\n"
    )
    text = (
        f"Workflow Scheduler testing notification\n\nTrigger details:\n{_text_list(summary)}\n\n"
        f"{title}:\n{_text_list(details)}\n\nTrigger data:\n{data_json}\n\n"
        f"Trigger configuration:\n{config_json}\n\n-- \n{NOT_EXECUTED}\n"
    )
    return Notification(subject=subject, html=html, text=text)
