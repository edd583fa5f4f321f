from __future__ import annotations

import json

import pytest

from workflow_scheduler.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_translate_prints_the_schedules(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "cron", "translate", "0 9 1 * 1", "--timezone", "Europe/Berlin")
    assert status == 0
    assert json.loads(out) == {
        "schedules": [
            {"expression": "cron(0 9 1 * ? *)", "timezone": "Europe/Berlin"},
            {"expression": "cron(0 9 ? * MON *)", "timezone": "Europe/Berlin"},
        ]
    }


@pytest.mark.parametrize(
    ("expression", "timezone", "fragment"),
    [
        ("0 0 30 2 *", "UTC", "February"),
        ("@reboot", "UTC", "@reboot"),
        ("0 0 * * * 2027", "UTC", "field"),
        ("0 9 * * *", "Mars/Olympus", "Mars/Olympus"),
    ],
)
def test_rejections_go_to_stderr_with_status_2(
    capsys: pytest.CaptureFixture[str], expression: str, timezone: str, fragment: str
) -> None:
    status, out, err = run(capsys, "cron", "translate", expression, "--timezone", timezone)
    assert status == 2 and out == "" and fragment in err


def test_preview_runs_and_dst_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "cron", "preview", "30 2 * * *", "--timezone", "Europe/Berlin", "--count", "3")
    result = json.loads(out)
    assert status == 0 and len(result["runs"]) == 3
    assert all(run.endswith(("+01:00", "+02:00")) and "T02:30:00" in run for run in result["runs"])
    assert any("skips" in w for w in result["warnings"]) and any("once" in w for w in result["warnings"])
    assert run(capsys, "cron", "preview", "@daily", "--count", "0")[0] == 2
