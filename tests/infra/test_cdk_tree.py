"""The CDK tree mirrors the functions: ``infra_cdk/functions/<name>.py`` for each ``functions/<name>/`` and no
other, so that a new function (a new trigger type's among them) has one obvious place for its construct."""

from __future__ import annotations

from infra_cdk.constants import FUNCTIONS_DIR, REPO_ROOT

CDK_FUNCTIONS_DIR = REPO_ROOT / "infra_cdk" / "functions"


def function_folders() -> set[str]:
    return {path.name for path in FUNCTIONS_DIR.iterdir() if (path / "handler.py").is_file()}


def construct_modules() -> set[str]:
    return {path.stem for path in CDK_FUNCTIONS_DIR.glob("*.py") if path.name != "__init__.py"}


def test_every_function_has_a_construct_module_of_its_name_and_every_module_a_function() -> None:
    assert function_folders(), f"no functions/<name>/handler.py under {FUNCTIONS_DIR}"
    assert construct_modules() == function_folders()
