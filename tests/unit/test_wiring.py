"""One composition root (issue 8): handlers get their services from ``wiring.py``; the package has no import cycle;
the CLI reads configuration through the settings models and reaches AWS through the adapters."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_ROOT = ROOT / "layers" / "shared" / "python"
PACKAGE = "workflow_scheduler"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import that runs, at the top or inside a function; not those under ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for statement in node.orelse:
                visit(statement)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (``from a import b`` counts as ``a.b`` when that is a module)."""
    paths = sorted(p for p in (PACKAGE_ROOT / PACKAGE).rglob("*.py") if "__pycache__" not in p.parts)
    modules = {_module_name(p) for p in paths}
    graph: dict[str, set[str]] = {}
    for path in paths:
        edges: set[str] = set()
        for node in _runtime_imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names if alias.name in modules)
            elif node.module in modules:
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    edges.add(submodule if submodule in modules else node.module)
        name = _module_name(path)
        graph[name] = edges - {name}
    return graph


def test_the_package_has_no_import_cycle() -> None:
    """A cycle makes a module's import order matter (a half-initialised module) and ties the layers together."""
    graph = import_graph()
    assert "workflow_scheduler.local.dev" in graph  # the graph covers the package
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as exc:
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None


def test_the_cli_reads_no_environment_variable_and_builds_no_aws_client() -> None:
    """Settings models read the environment, adapters reach AWS: the CLI goes through them like the handlers."""
    tree = ast.parse((PACKAGE_ROOT / PACKAGE / "cli.py").read_text())
    imported = {
        name.split(".")[0]
        for node in _runtime_imports(tree)
        for name in ([alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""])
    }
    assert imported.isdisjoint({"os", "boto3", "botocore"})
    environ = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr == "environ"]
    assert environ == []


def test_every_handler_gets_its_services_from_wiring() -> None:
    """No handler builds a connection pool or a domain service of its own: that is the composition root's job."""
    built_in_handlers = [
        f"{path.relative_to(ROOT)}:{node.lineno} {ast.unparse(node.func)}"
        for path in sorted((ROOT / "functions").glob("*/handler.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and ast.unparse(node.func)
        in {"Database", "Dispatcher", "WebhookFiring", "CronFiring", "ManualFiring", "FiringService", "Reconciler"}
    ]
    assert built_in_handlers == []
