"""Dependencies run one way (docs/architecture.md): project middleware and ``core`` import
no app, and ``accounts`` reaches ``conversations`` only through its services and selectors."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = {"accounts", "attachments", "catalogue", "conversations", "openai_api", "sharing", "usage"}


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports at run time (imports for type checkers only are left
    out); ``from package import module`` counts as the module."""
    modules = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            modules.update(
                f"{node.module}.{alias.name}"
                for alias in node.names
                if _is_module(f"{node.module}.{alias.name}")
            )
    return modules


def _runtime_nodes(tree: ast.AST):
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            continue
        yield node
        yield from _runtime_nodes(node)


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def first_party(modules: set[str]) -> set[str]:
    return {module for module in modules if module.split(".")[0] in APPS}


def test_project_middleware_and_core_import_no_app():
    paths = [ROOT / "chatbot" / "middleware.py", *sorted((ROOT / "core").rglob("*.py"))]
    imports = {str(path.relative_to(ROOT)): first_party(imported_modules(path)) for path in paths}
    assert {path: apps for path, apps in imports.items() if apps} == {}


def test_accounts_reaches_conversations_only_through_services_and_selectors():
    # ``from conversations import services`` names the package too.
    allowed = {"conversations", "conversations.services", "conversations.selectors"}
    found = set()
    for path in sorted((ROOT / "accounts").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for module in imported_modules(path):
            if module.startswith("conversations") and module not in allowed:
                found.add((str(path.relative_to(ROOT)), module))
    assert found == set()
