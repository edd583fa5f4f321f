"""GitHub Actions filter patterns: every example of GitHub's "filter pattern cheat sheet", and its rules."""

from __future__ import annotations

import time

import pytest

from workflow_scheduler.domain.triggers.github.patterns import (
    PatternError,
    compile_pattern,
    compile_patterns,
    list_problems,
    pattern_problem,
)

# "Patterns to match branches and tags": pattern -> the example matches the cheat sheet gives.
BRANCH_AND_TAG_EXAMPLES = {
    "feature/*": ["feature/my-branch", "feature/your-branch"],
    "feature/**": ["feature/beta-a/my-branch", "feature/your-branch", "feature/mona/the/octocat"],
    "main": ["main"],
    "releases/mona-the-octocat": ["releases/mona-the-octocat"],
    "*": ["main", "releases"],
    "**": ["all/the/branches", "every/tag"],
    "*feature": ["mona-feature", "feature", "ver-10-feature"],
    "v2*": ["v2", "v2.0", "v2.9"],
    "v[12].[0-9]+.[0-9]+": ["v1.10.1", "v2.0.0"],
}

# "Patterns to match file paths".
PATH_EXAMPLES = {
    "*": ["README.md", "server.rb"],
    "*.jsx?": ["page.js", "page.jsx"],
    "**": ["all/the/files.md"],
    "*.js": ["app.js", "index.js"],
    "**.js": ["index.js", "js/index.js", "src/js/app.js"],
    "docs/*": ["docs/README.md", "docs/file.txt"],
    "docs/**": ["docs/README.md", "docs/mona/octocat.txt"],
    "docs/**/*.md": ["docs/README.md", "docs/mona/hello-world.md", "docs/a/markdown/file.md"],
    "**/docs/**": ["docs/hello.md", "dir/docs/my-file.txt", "space/docs/plan/space.doc"],
    "**/README.md": ["README.md", "js/README.md"],
    "**/*src/**": ["a/src/app.js", "my-src/code/js/app.js"],
    "**/*-post.md": ["my-post.md", "path/their-post.md"],
    "**/migrate-*.sql": ["migrate-10909.sql", "db/migrate-v1.0.sql", "db/sept/migrate-v1.sql"],
}

# What the descriptions say the same patterns must not match.
NON_MATCHES = {
    "feature/*": ["feature/beta-a/my-branch", "feature"],
    "*": ["all/the/branches", "docs/README.md"],
    "*.js": ["src/app.js", "app.jsx"],
    "*.jsx?": ["page.jsxx", "page.j"],
    "v2*": ["v1", "xv2"],
    "v[12].[0-9]+.[0-9]+": ["v3.0.0", "v1.x.1", "v1..1", "v1.10"],
    "docs/*": ["docs/mona/octocat.txt", "other/docs/a.md"],
    "main": ["main2", "mai", "Main"],
    "**/README.md": ["README.mdx", "js/NOTREADME.md"],
}


@pytest.mark.parametrize(
    ("pattern", "value"),
    [(p, v) for examples in (BRANCH_AND_TAG_EXAMPLES, PATH_EXAMPLES) for p, vs in examples.items() for v in vs],
)
def test_every_cheat_sheet_example_matches(pattern: str, value: str) -> None:
    assert compile_pattern(pattern).matches(value)


@pytest.mark.parametrize(("pattern", "value"), [(p, v) for p, vs in NON_MATCHES.items() for v in vs])
def test_what_the_cheat_sheet_excludes_does_not_match(pattern: str, value: str) -> None:
    assert not compile_pattern(pattern).matches(value)


def test_a_later_negative_pattern_excludes_and_a_later_positive_one_includes_again() -> None:
    negated = compile_patterns(["*.md", "!README.md"])
    assert negated.matches("hello.md")
    assert not negated.matches("README.md")
    assert not negated.matches("docs/hello.md")

    reincluded = compile_patterns(["*.md", "!README.md", "README*"])
    assert [reincluded.matches(v) for v in ("hello.md", "README.md", "README.doc")] == [True, True, True]


def test_classes_hold_letters_digits_and_ranges() -> None:
    assert compile_pattern("[CB]at").matches("Cat")
    assert compile_pattern("[CB]at").matches("Bat")
    assert not compile_pattern("[CB]at").matches("Rat")
    assert compile_pattern("[1-2]00").matches("100")
    assert compile_pattern("[1-2]00").matches("200")
    assert not compile_pattern("[1-2]00").matches("300")
    assert compile_pattern("[0-9a-z]").matches("q")
    assert not compile_pattern("[0-9a-z]").matches("Q")
    assert compile_pattern("Octo*").matches("Octocat")


def test_quantifiers_apply_to_the_preceding_character_only() -> None:
    assert compile_pattern("ab+c").matches("abbbc")
    assert not compile_pattern("ab+c").matches("ac")
    assert compile_pattern("ab?c").matches("ac")
    assert not compile_pattern("ab?c").matches("abbc")
    assert compile_pattern("v[0-9]+").matches("v123")


def test_exclamation_mark_is_special_only_at_the_start_and_backslash_escapes() -> None:
    assert compile_pattern("a!b").matches("a!b")
    assert compile_pattern("!a").negated
    assert compile_pattern("\\!a").matches("!a")
    assert not compile_pattern("\\!a").negated
    assert compile_pattern("c\\+\\+/*").matches("c++/main.cc")
    assert compile_pattern("a\\*").matches("a*")
    assert not compile_pattern("a\\*").matches("ab")


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("", "is empty"),
        ("!", "'!' must be followed by a pattern"),
        ("release/v[0-9", "'[' at position 9 has no closing ']'"),
        ("a[]", "'[]' at position 1 is empty"),
        ("[a-Z]", "range 'a-Z' in [] is not within a-z, A-Z or 0-9"),
        ("[9-0]", "range '9-0' in [] is not within a-z, A-Z or 0-9"),
        ("[._-]", "'.' cannot go inside []"),
        ("+main", "'+' at position 0 has no character or [] class before it"),
        ("!?main", "'?' at position 1 has no character or [] class before it"),
        ("feature/*+", "'+' at position 9 has no character"),
        ("a??", "'?' at position 2 has no character"),
        ("**/?", "'?' at position 3 has no character"),
        ("trailing\\", "ends with '\\'"),
        ("x" * 1025, "is longer than 1024 characters"),
    ],
)
def test_an_invalid_pattern_is_refused_saying_why(pattern: str, reason: str) -> None:
    problem = pattern_problem(pattern)
    assert problem is not None
    assert problem.startswith(reason)
    with pytest.raises(PatternError) as caught:
        compile_pattern(pattern)
    assert caught.value.pattern == pattern
    assert repr(pattern) in str(caught.value)


def test_a_list_needs_a_positive_pattern_before_a_negative_one() -> None:
    problems = list_problems(["!main", "release/[", "main", "!dev"])
    assert [(p.index, p.pattern) for p in problems] == [(0, "!main"), (1, "release/[")]
    assert "put a positive pattern first" in problems[0].reason
    with pytest.raises(PatternError, match="!main"):
        compile_patterns(["!main", "main"])
    assert compile_patterns(["main", "!dev"]).matches("main")


def test_matching_takes_linear_time_whatever_the_pattern() -> None:
    """A backtracking translation (``.*a.*a.*a.*a.*b``) would take hours on this; names come from outside."""
    pattern = compile_pattern("**a**a**a**a**b")
    started = time.monotonic()
    assert not pattern.matches("a" * 5000)
    assert time.monotonic() - started < 1.0


def test_patterns_are_compiled_once() -> None:
    assert compile_pattern("docs/**") is compile_pattern("docs/**")
