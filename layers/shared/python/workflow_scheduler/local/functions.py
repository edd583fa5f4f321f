"""Find and load the Lambda handlers in ``functions/<name>/handler.py`` of this checkout."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType


def repo_root() -> Path:
    """The checkout: WORKFLOW_SCHEDULER_ROOT, else the nearest parent of the cwd (or of this file) with functions/."""
    explicit = os.environ.get("WORKFLOW_SCHEDULER_ROOT")
    if explicit:
        return Path(explicit)
    for start in (Path.cwd(), Path(__file__).resolve()):
        for folder in (start, *start.parents):
            if (folder / "functions").is_dir() and (folder / "pyproject.toml").is_file():
                return folder
    raise FileNotFoundError("cannot find the checkout (a folder with functions/ and pyproject.toml)")


def function_names() -> list[str]:
    return sorted(p.parent.name for p in (repo_root() / "functions").glob("*/handler.py"))


def load_handler_module(name: str, *, fresh: bool = False) -> ModuleType:
    """Import ``functions/<name>/handler.py`` as module ``functions.<name>.handler`` (once, unless ``fresh``)."""
    module_name = f"functions.{name}.handler"
    if not fresh and module_name in sys.modules:
        return sys.modules[module_name]
    path = repo_root() / "functions" / name / "handler.py"
    if not path.is_file():
        known = ", ".join(function_names())
        raise FileNotFoundError(f"no function {name!r}; known functions: {known}")
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module
