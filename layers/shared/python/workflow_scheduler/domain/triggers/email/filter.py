"""The e-mail trigger's filter: Gmail-like terms, all of which must match (docs/email.md).

``parse_filter`` turns the text into terms (a text that does not parse is ``EmailFilterInvalid``, naming the
position). ``EmailFilter.search_criteria`` is the part the IMAP server can check (``SEARCH``); ``matches``
checks every term it can decide on what was fetched, so a server whose search is looser than RFC 3501's
substring match cannot let a message through that the filter refuses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from workflow_scheduler.domain.errors import Invalid


class EmailFilterInvalid(Invalid):
    """The ``email_filter`` does not parse; ``position`` is the 1-based character where the problem is."""

    code = "email_filter_invalid"

    def __init__(self, reason: str, position: int) -> None:
        self.reason = reason
        self.position = position
        super().__init__(f"email_filter: {reason} at position {position}")

    def extra_body(self) -> dict[str, Any]:
        return {"field": "email_filter", "position": self.position}


class TermKind(StrEnum):
    FROM = "from"
    TO = "to"
    CC = "cc"
    SUBJECT = "subject"
    HAS_ATTACHMENT = "has"
    FILENAME = "filename"
    TEXT = "text"  # a bare word or quoted phrase: in the subject or the body


# IMAP SEARCH keys of the terms the server can check; the others are checked on the fetched message.
_SEARCH_KEYS = {TermKind.FROM: "FROM", TermKind.TO: "TO", TermKind.CC: "CC", TermKind.SUBJECT: "SUBJECT"}
_OPERATORS = {kind.value: kind for kind in TermKind if kind is not TermKind.TEXT}
_WHITESPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """What terms compare: case folded, runs of white space as one space (a folded header line matches)."""
    return _WHITESPACE.sub(" ", text).strip().casefold()


@dataclass(frozen=True)
class FilterTerm:
    kind: TermKind
    value: str  # "attachment" for has:attachment
    negated: bool = False
    position: int = 1

    @property
    def pushed_down(self) -> bool:
        """Whether IMAP SEARCH can check it (has:attachment and filename: have no standard search key)."""
        return self.kind in _SEARCH_KEYS or self.kind is TermKind.TEXT

    def search_keys(self) -> list[str]:
        """This term as IMAP SEARCH keys (prefix notation, no parentheses)."""
        if self.kind is TermKind.TEXT:
            keys = ["OR", "SUBJECT", self.value, "BODY", self.value]
        else:
            keys = [_SEARCH_KEYS[self.kind], self.value]
        return ["NOT", *keys] if self.negated else keys

    def __str__(self) -> str:
        value = f'"{self.value}"' if " " in self.value else self.value
        text = value if self.kind is TermKind.TEXT else f"{self.kind.value}:{value}"
        return f"-{text}" if self.negated else text


@dataclass(frozen=True)
class MessageFacts:
    """What a filter looks at. ``body`` is None while only headers and structure have been fetched."""

    sender: str
    to: str
    cc: str
    subject: str
    attachment_names: tuple[str, ...] = ()  # one per attachment, "" for one without a name
    body: str | None = None

    @property
    def has_attachment(self) -> bool:
        return bool(self.attachment_names)


@dataclass(frozen=True)
class EmailFilter:
    terms: tuple[FilterTerm, ...] = ()

    def search_criteria(self) -> list[str]:
        """IMAP SEARCH keys for the terms the server can check, ANDed; empty when there are none."""
        return [key for term in self.terms if term.pushed_down for key in term.search_keys()]

    @property
    def needs_body(self) -> bool:
        """Whether a message's body must be fetched before ``matches`` can decide every term."""
        return any(term.kind is TermKind.TEXT for term in self.terms)

    def matches(self, facts: MessageFacts) -> bool:
        """False when a term fails; a bare word not in the subject counts as found while the body is unknown
        (the server's SEARCH checked it); call again with the body to decide."""
        return all(_holds(term, facts) is not False for term in self.terms)

    def __str__(self) -> str:
        return " ".join(str(term) for term in self.terms)


def _holds(term: FilterTerm, facts: MessageFacts) -> bool | None:
    """Whether the term holds for the message; None when it cannot tell without the body."""
    needle = normalize(term.value)
    found: bool | None
    match term.kind:
        case TermKind.FROM:
            found = needle in normalize(facts.sender)
        case TermKind.TO:
            found = needle in normalize(facts.to)
        case TermKind.CC:
            found = needle in normalize(facts.cc)
        case TermKind.SUBJECT:
            found = needle in normalize(facts.subject)
        case TermKind.HAS_ATTACHMENT:
            found = facts.has_attachment
        case TermKind.FILENAME:
            found = any(needle in normalize(name) for name in facts.attachment_names)
        case TermKind.TEXT:
            if needle in normalize(facts.subject):
                found = True
            elif facts.body is None:
                found = None
            else:
                found = needle in normalize(facts.body)
    if found is None:
        return None
    return found != term.negated


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def fail(self, reason: str, at: int | None = None) -> EmailFilterInvalid:
        return EmailFilterInvalid(reason, (self.at if at is None else at) + 1)

    def parse(self) -> EmailFilter:
        terms: list[FilterTerm] = []
        while True:
            while self.at < len(self.text) and self.text[self.at].isspace():
                self.at += 1
            if self.at == len(self.text):
                return EmailFilter(tuple(terms))
            terms.append(self.term())

    def term(self) -> FilterTerm:
        start = self.at
        negated = self.text[self.at] == "-"
        if negated:
            self.at += 1
            if self.at == len(self.text) or self.text[self.at].isspace():
                raise self.fail("'-' must be followed by the term it excludes", start)
        if self.text[self.at] == '"':
            return FilterTerm(TermKind.TEXT, self.quoted(), negated, start + 1)
        word_start = self.at
        word = self.word()
        key, colon, rest = word.partition(":")
        if not colon:
            if word == "OR":
                raise self.fail("OR is not supported: every term must match (use one trigger per alternative)", start)
            return FilterTerm(TermKind.TEXT, word, negated, start + 1)
        kind = _OPERATORS.get(key.lower())
        if kind is None:
            known = ", ".join(f"{name}:" for name in _OPERATORS)
            raise self.fail(f"unknown operator '{key}:' (known: {known}); quote it to search for the text", word_start)
        if rest:
            value = rest
        elif self.at < len(self.text) and self.text[self.at] == '"':
            value = self.quoted()
        else:
            raise self.fail(f"'{key}:' needs a value", word_start)
        if kind is TermKind.HAS_ATTACHMENT:
            if value.lower() != "attachment":
                raise self.fail(f"'has:' takes only 'attachment', not {value!r}", word_start)
            value = "attachment"
        return FilterTerm(kind, value, negated, start + 1)

    def word(self) -> str:
        """Characters up to white space; a quote may only follow an operator's colon."""
        start = self.at
        while self.at < len(self.text) and not self.text[self.at].isspace():
            char = self.text[self.at]
            if char in "(){}":
                raise self.fail("grouping with parentheses or braces is not supported: all terms must match")
            if char == '"':
                if self.at > start and self.text[self.at - 1] == ":":
                    break
                raise self.fail("a quote must start a phrase or follow an operator's colon")
            self.at += 1
        return self.text[start : self.at]

    def quoted(self) -> str:
        start = self.at
        end = self.text.find('"', start + 1)
        if end < 0:
            raise self.fail("unterminated quoted phrase", start)
        value = _WHITESPACE.sub(" ", self.text[start + 1 : end]).strip()
        if not value:
            raise self.fail("empty quoted phrase", start)
        self.at = end + 1
        if self.at < len(self.text) and not self.text[self.at].isspace():
            raise self.fail("a space must follow a quoted phrase")
        return value


def parse_filter(text: str) -> EmailFilter:
    """The terms of an ``email_filter``; ``EmailFilterInvalid`` names the position of the first problem."""
    return _Parser(text).parse()
