"""GitHub Actions filter patterns, as GitHub's "filter pattern cheat sheet" defines them (docs/github.md).

``*`` matches any run of characters but ``/``; ``**`` any run at all (``**/`` also nothing, so ``**/README.md``
matches ``README.md``); ``?`` makes the preceding character or ``[]`` class optional and ``+`` repeats it;
``[]`` holds letters, digits and the ranges ``a-z``, ``A-Z``, ``0-9``; ``\\`` makes the next character literal;
a leading ``!`` negates the pattern. A list is read in order and the last pattern that matches decides.

Matching simulates a small automaton over all its states at once, so it takes time linear in the name's length
whatever the pattern: names and paths come from outside, and a backtracking regular expression such as
``.*a.*a.*b`` takes seconds on a 2,000-character path.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

MAX_PATTERN_LENGTH = 1024
_CLASS_CHARS = frozenset(string.ascii_letters + string.digits)
_RANGES = (string.ascii_lowercase, string.ascii_uppercase, string.digits)


class PatternError(ValueError):
    """A pattern GitHub Actions would not accept, with the reason."""

    def __init__(self, pattern: str, reason: str) -> None:
        super().__init__(f"pattern {pattern!r}: {reason}")
        self.pattern = pattern
        self.reason = reason


class _Test(Enum):
    CHAR = "char"  # one given character
    CLASS = "class"  # one character of a [] class
    NOT_SLASH = "not_slash"  # what * repeats
    ANY = "any"  # what ** repeats


class _Times(Enum):
    ONE = "one"
    OPTIONAL = "optional"  # x?
    ONE_OR_MORE = "one_or_more"  # x+
    ANY_NUMBER = "any_number"  # * and **


@dataclass(frozen=True)
class _Atom:
    test: _Test
    arg: str | frozenset[str] | None = None
    times: _Times = _Times.ONE


@dataclass(frozen=True)
class _DirPrefix:
    """``**/``: nothing, or any characters ending in ``/`` (``(.+/)?``)."""


# A state consumes one character passing its test and moves to ``target``; ``closure`` holds the states reached
# from it without consuming anything (itself included).
@dataclass(frozen=True)
class _State:
    test: _Test
    arg: str | frozenset[str] | None
    target: int


def _passes(state: _State, char: str) -> bool:
    if state.test is _Test.CHAR:
        return char == state.arg
    if state.test is _Test.CLASS:
        return char in (state.arg or ())
    if state.test is _Test.NOT_SLASH:
        return char != "/"
    return True


class Pattern:
    """One compiled pattern: ``text`` as written, ``negated`` when it starts with ``!``."""

    def __init__(self, text: str) -> None:
        problem = pattern_problem(text)
        if problem is not None:
            raise PatternError(text, problem)
        self.text = text
        self.negated = text.startswith("!")
        atoms = _parse(text[1:] if self.negated else text)
        self._literal: str | None = None
        if all(isinstance(a, _Atom) and a.test is _Test.CHAR and a.times is _Times.ONE for a in atoms):
            self._literal = "".join(str(a.arg) for a in atoms if isinstance(a, _Atom))
        self._states, self._closures = _build(atoms)

    def __repr__(self) -> str:
        return f"Pattern({self.text!r})"

    def matches(self, value: str) -> bool:
        """Whether the pattern (without its ``!``) matches the whole of ``value``."""
        if self._literal is not None:
            return value == self._literal
        accept = len(self._states)
        current = self._closures[0]
        for char in value:
            following: set[int] = set()
            for index in current:
                if index != accept and _passes(self._states[index], char):
                    following |= self._closures[self._states[index].target]
            if not following:
                return False
            current = frozenset(following)
        return accept in current


@dataclass(frozen=True)
class PatternList:
    """Patterns read in order: the last one matching a value decides (a ``!`` pattern excludes it again)."""

    patterns: tuple[Pattern, ...]

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def matches(self, value: str) -> bool:
        included = False
        for pattern in self.patterns:
            if pattern.matches(value):
                included = not pattern.negated
        return included

    def matches_any(self, values: Iterable[str]) -> bool:
        return any(self.matches(v) for v in values)

    def matches_all(self, values: Iterable[str]) -> bool:
        return all(self.matches(v) for v in values)


@dataclass(frozen=True)
class PatternProblem:
    index: int
    pattern: str
    reason: str


@lru_cache(maxsize=4096)
def compile_pattern(text: str) -> Pattern:
    """The compiled pattern (cached: the router meets the same patterns in every event); ``PatternError``."""
    return Pattern(text)


def compile_patterns(texts: Sequence[str]) -> PatternList:
    """The compiled list; ``PatternError`` for the first invalid pattern or a ``!`` with nothing before it."""
    problems = list_problems(texts)
    if problems:
        raise PatternError(problems[0].pattern, problems[0].reason)
    return PatternList(tuple(compile_pattern(t) for t in texts))


def list_problems(texts: Sequence[str]) -> list[PatternProblem]:
    """Every problem of a list of patterns, each with its index, the pattern and why."""
    problems = []
    for index, text in enumerate(texts):
        reason = pattern_problem(text)
        if reason is None and index == 0 and text.startswith("!"):
            reason = "a '!' pattern only excludes what an earlier pattern included: put a positive pattern first"
        if reason is not None:
            problems.append(PatternProblem(index, text, reason))
    return problems


def pattern_problem(text: str) -> str | None:
    """Why GitHub Actions would refuse this pattern, or None when it is valid."""
    if len(text) > MAX_PATTERN_LENGTH:
        return f"is longer than {MAX_PATTERN_LENGTH} characters"
    body = text[1:] if text.startswith("!") else text
    if not body:
        return "is empty" if not text else "'!' must be followed by a pattern"
    try:
        _parse(body, offset=len(text) - len(body))
    except ValueError as exc:
        return str(exc)
    return None


def _parse(body: str, offset: int = 0) -> list[_Atom | _DirPrefix]:
    """The pattern's atoms; a ``ValueError`` saying what is wrong (positions count from ``offset``)."""
    atoms: list[_Atom | _DirPrefix] = []
    pos = 0
    while pos < len(body):
        char = body[pos]
        if char == "*":
            if body.startswith("**/", pos):
                atoms.append(_DirPrefix())
                pos += 3
            elif body.startswith("**", pos):
                atoms.append(_Atom(_Test.ANY, None, _Times.ANY_NUMBER))
                pos += 2
            else:
                atoms.append(_Atom(_Test.NOT_SLASH, None, _Times.ANY_NUMBER))
                pos += 1
        elif char in "?+":
            previous = atoms[-1] if atoms else None
            if not isinstance(previous, _Atom) or previous.times is not _Times.ONE:
                raise ValueError(
                    f"{char!r} at position {pos + offset} has no character or [] class before it to apply to"
                )
            times = _Times.OPTIONAL if char == "?" else _Times.ONE_OR_MORE
            atoms[-1] = _Atom(previous.test, previous.arg, times)
            pos += 1
        elif char == "[":
            members, pos = _parse_class(body, pos, offset)
            atoms.append(_Atom(_Test.CLASS, members))
        elif char == "\\":
            if pos + 1 >= len(body):
                raise ValueError("ends with '\\', which must be followed by the character it makes literal")
            atoms.append(_Atom(_Test.CHAR, body[pos + 1]))
            pos += 2
        else:
            atoms.append(_Atom(_Test.CHAR, char))
            pos += 1
    return atoms


def _parse_class(body: str, start: int, offset: int) -> tuple[frozenset[str], int]:
    """The members of the ``[]`` class opening at ``start``, and the position after its ``]``."""
    end = body.find("]", start + 1)
    if end == -1:
        raise ValueError(f"'[' at position {start + offset} has no closing ']'")
    inside = body[start + 1 : end]
    if not inside:
        raise ValueError(f"'[]' at position {start + offset} is empty")
    members: set[str] = set()
    pos = 0
    while pos < len(inside):
        if pos + 2 < len(inside) and inside[pos + 1] == "-":
            low, high = inside[pos], inside[pos + 2]
            span = next((r for r in _RANGES if low in r and high in r), None)
            if span is None or low > high:
                raise ValueError(f"range '{low}-{high}' in [] is not within a-z, A-Z or 0-9")
            members.update(span[span.index(low) : span.index(high) + 1])
            pos += 3
        elif inside[pos] in _CLASS_CHARS:
            members.add(inside[pos])
            pos += 1
        else:
            raise ValueError(f"{inside[pos]!r} cannot go inside []: only letters, digits and ranges a-z, A-Z, 0-9")
    return frozenset(members), end + 1


def _build(atoms: Sequence[_Atom | _DirPrefix]) -> tuple[tuple[_State, ...], tuple[frozenset[int], ...]]:
    """The automaton's states and, for each state (and the accepting one at the end), its closure."""
    states: list[_State] = []
    skips: list[tuple[int, ...]] = []  # per state: where it leads without consuming a character
    for atom in atoms:
        here = len(states)
        if isinstance(atom, _DirPrefix):
            # here: any char, or skip the whole prefix; here+1: any chars, then here+2: the "/".
            states += [_State(_Test.ANY, None, here + 1), _State(_Test.ANY, None, here + 1)]
            states.append(_State(_Test.CHAR, "/", here + 3))
            skips += [(here + 3,), (here + 2,), ()]
        elif atom.times is _Times.ONE:
            states.append(_State(atom.test, atom.arg, here + 1))
            skips.append(())
        elif atom.times is _Times.OPTIONAL:
            states.append(_State(atom.test, atom.arg, here + 1))
            skips.append((here + 1,))
        elif atom.times is _Times.ANY_NUMBER:
            states.append(_State(atom.test, atom.arg, here))
            skips.append((here + 1,))
        else:  # one or more: one, then any number
            states += [_State(atom.test, atom.arg, here + 1), _State(atom.test, atom.arg, here + 1)]
            skips += [(), (here + 2,)]
    # Skips only lead forward, so each closure is known once the later ones are.
    closures: list[frozenset[int]] = [frozenset({len(states)})]
    for index in range(len(states) - 1, -1, -1):
        reached = {index}
        for target in skips[index]:
            reached |= closures[len(states) - target]
        closures.append(frozenset(reached))
    return tuple(states), tuple(reversed(closures))
