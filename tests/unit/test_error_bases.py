"""Every domain error derives from a base that http.py maps, so http.py needs no trigger module (issue 8)."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import workflow_scheduler
from workflow_scheduler import http
from workflow_scheduler.domain.errors import DomainError

PACKAGE = Path(workflow_scheduler.__file__).parent


def _subclasses(cls: type[DomainError]) -> set[type[DomainError]]:
    found = set(cls.__subclasses__())
    return found.union(*(_subclasses(sub) for sub in found))


def test_every_domain_error_has_a_mapped_base() -> None:
    for layer in ("domain", "adapters"):
        for module in pkgutil.walk_packages([str(PACKAGE / layer)], prefix=f"workflow_scheduler.{layer}."):
            importlib.import_module(module.name)
    unmapped = [cls.__qualname__ for cls in _subclasses(DomainError) if not set(cls.__mro__) & set(http.STATUS_OF)]
    assert unmapped == []
    assert all(base.__module__ == "workflow_scheduler.domain.errors" for base in http.STATUS_OF)


def test_http_imports_no_trigger_module() -> None:
    tree = ast.parse((PACKAGE / "http.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    trigger_modules = {"firing", "manual", "webhook", "cron", "registrar", "manager", "triggers"}
    assert not {name.rsplit(".", 1)[-1] for name in imported} & trigger_modules
    assert not [name for name in imported if name.startswith("workflow_scheduler.domain.triggers")]
