"""The e-mail filter: every term, negation, case, what goes to IMAP SEARCH, and parse errors with positions."""

from __future__ import annotations

import pytest

from workflow_scheduler.domain.errors import Invalid
from workflow_scheduler.domain.triggers.email.filter import (
    EmailFilterInvalid,
    FilterTerm,
    MessageFacts,
    TermKind,
    parse_filter,
)

MAIL = MessageFacts(
    sender="CI Alerts <alerts@example.com>",
    to="Team <team@example.com>, ops@example.org",
    cc="Boss <boss@example.net>",
    subject="Build FAILED on main",
    attachment_names=("report.PDF", "log.txt"),
    body="The job deploy-prod broke at step 3.\n  See the   attached log.",
)
PLAIN = MessageFacts(sender="bob@example.org", to="me@example.com", cc="", subject="Lunch?", body="Pizza at noon")


def matches(text: str, facts: MessageFacts = MAIL) -> bool:
    return parse_filter(text).matches(facts)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("from:alerts@example.com", True),
        ("from:ALERTS@Example.COM", True),
        ("from:example.com", True),
        ('from:"CI Alerts"', True),
        ("from:bob@example.org", False),
        ("to:team@example.com", True),
        ("to:ops@example.org", True),
        ("to:boss@example.net", False),
        ("cc:boss", True),
        ("cc:team", False),
        ("subject:failed", True),
        ('subject:"build failed"', True),
        ('subject:"failed build"', False),
        ("has:attachment", True),
        ("has:ATTACHMENT", True),
        ("filename:pdf", True),
        ("filename:report.pdf", True),
        ("filename:xlsx", False),
        ("deploy-prod", True),  # a bare word in the body
        ("main", True),  # a bare word in the subject
        ('"see the attached log"', True),  # a phrase, across runs of white space
        ("pizza", False),
    ],
)
def test_each_term_matches_case_insensitively(text: str, expected: bool) -> None:
    assert matches(text) is expected


def test_has_attachment_and_filename_need_an_attachment() -> None:
    assert matches("has:attachment", PLAIN) is False
    assert matches("-has:attachment", PLAIN) is True
    assert matches("-filename:pdf", PLAIN) is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-from:alerts@example.com", False),
        ("-from:bob@example.org", True),
        ("-subject:failed", False),
        ('-subject:"all good"', True),
        ("-has:attachment", False),
        ("-filename:pdf", False),
        ("-filename:xlsx", True),
        ("-deploy-prod", False),
        ('-"all good"', True),
        ("-cc:boss", False),
        ("-to:nobody", True),
    ],
)
def test_minus_negates_a_term(text: str, expected: bool) -> None:
    assert matches(text) is expected


def test_every_term_must_match() -> None:
    assert matches('from:alerts subject:"build failed" has:attachment filename:log -pizza') is True
    assert matches('from:alerts subject:"build failed" pizza') is False
    assert matches("from:alerts -subject:failed") is False


def test_an_empty_filter_matches_everything() -> None:
    assert parse_filter("").matches(PLAIN)
    assert parse_filter("   ").terms == ()
    assert parse_filter("").search_criteria() == []


def test_terms_keep_their_kind_value_and_position() -> None:
    assert parse_filter('  from:a@b.c -subject:"x  y" word has:attachment').terms == (
        FilterTerm(TermKind.FROM, "a@b.c", False, 3),
        FilterTerm(TermKind.SUBJECT, "x y", True, 14),
        FilterTerm(TermKind.TEXT, "word", False, 30),
        FilterTerm(TermKind.HAS_ATTACHMENT, "attachment", False, 35),
    )


def test_operators_may_be_written_in_capitals_and_values_may_hold_colons() -> None:
    assert parse_filter("FROM:a Subject:re:deploy").terms == (
        FilterTerm(TermKind.FROM, "a", False, 1),
        FilterTerm(TermKind.SUBJECT, "re:deploy", False, 8),
    )


def test_search_criteria_hold_what_the_server_can_check() -> None:
    parsed = parse_filter('from:alerts -to:ops subject:"build failed" cc:boss deploy -"all good" has:attachment')
    assert parsed.search_criteria() == [
        "FROM", "alerts",
        "NOT", "TO", "ops",
        "SUBJECT", "build failed",
        "CC", "boss",
        "OR", "SUBJECT", "deploy", "BODY", "deploy",
        "NOT", "OR", "SUBJECT", "all good", "BODY", "all good",
    ]  # fmt: skip


def test_attachment_terms_stay_for_the_fetched_message() -> None:
    parsed = parse_filter("has:attachment -filename:exe")
    assert parsed.search_criteria() == []
    assert [t.pushed_down for t in parsed.terms] == [False, False]


def test_a_bare_word_waits_for_the_body_unless_the_subject_decides() -> None:
    headers_only = MessageFacts(sender="a@b", to="", cc="", subject="Build failed", body=None)
    assert parse_filter("deploy").needs_body
    assert parse_filter("deploy").matches(headers_only)  # undecided: the server searched the body
    assert parse_filter("-build").matches(headers_only) is False  # in the subject: decided
    assert parse_filter("from:a@b").needs_body is False
    with_body = MessageFacts(sender="a@b", to="", cc="", subject="Build failed", body="nothing here")
    assert parse_filter("deploy").matches(with_body) is False


def test_non_ascii_terms_match() -> None:
    facts = MessageFacts(sender="Jürgen <j@example.de>", to="", cc="", subject="Überweisung fällig", body="")
    assert matches("from:jürgen subject:ÜBERWEISUNG", facts)


@pytest.mark.parametrize(
    ("text", "position", "reason"),
    [
        ('subject:"build failed', 9, "unterminated quoted phrase"),
        ('"never closed', 1, "unterminated quoted phrase"),
        ("from:", 1, "'from:' needs a value"),
        ("a subject: b", 3, "'subject:' needs a value"),
        ('from:""', 6, "empty quoted phrase"),
        ("label:work", 1, "unknown operator 'label:'"),
        ("x -list:y", 4, "unknown operator 'list:'"),
        ("has:pdf", 1, "'has:' takes only 'attachment'"),
        ("a - b", 3, "'-' must be followed by the term it excludes"),
        ("word -", 6, "'-' must be followed by the term it excludes"),
        ("alerts OR builds", 8, "OR is not supported"),
        ("(a b)", 1, "grouping with parentheses or braces is not supported"),
        ("from:{a b}", 6, "grouping with parentheses or braces is not supported"),
        ('ab"cd"', 3, "a quote must start a phrase"),
        ('subject:"a"b', 12, "a space must follow a quoted phrase"),
    ],
)
def test_a_filter_that_does_not_parse_names_the_position(text: str, position: int, reason: str) -> None:
    with pytest.raises(EmailFilterInvalid) as caught:
        parse_filter(text)
    assert caught.value.position == position
    assert reason in caught.value.reason
    assert caught.value.message.startswith("email_filter: ")
    assert caught.value.message.endswith(f"at position {position}")
    assert isinstance(caught.value, Invalid)  # a 422 at deploy
    assert caught.value.extra_body() == {"field": "email_filter", "position": position}


def test_a_filter_prints_back_as_terms() -> None:
    assert str(parse_filter('from:a  -subject:"b c"   d')) == 'from:a -subject:"b c" d'
