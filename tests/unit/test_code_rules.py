"""Rules of the code base that a reviewer would otherwise check by hand (issue 8)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("layers/shared/python", "functions", "infra_cdk", "bench", "scripts")
ALL_DIRS = (*SOURCE_DIRS, "tests")


def _sources(dirs: tuple[str, ...] = SOURCE_DIRS) -> list[Path]:
    return sorted(p for d in dirs for p in (ROOT / d).rglob("*.py") if "__pycache__" not in p.parts)


def test_no_assert_does_a_runtime_check() -> None:
    """``python -O`` drops asserts: a check the code relies on must raise an error of its own."""
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in _sources()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assert)
    ]
    assert found == []


def test_no_module_imports_another_ones_private_names() -> None:
    """What a module keeps private it may change freely: what another module needs gets a public name."""
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno} {alias.name}"
        for path in _sources(ALL_DIRS)
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module != "__future__"
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]
    assert found == []
