"""docs/guarantees.md names, for each guarantee, the tests that prove it: every file and test
it names exists, so a renamed or deleted test cannot leave a guarantee unproved on paper."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# `tests/x.py::name`, `::name` (same file as the reference before it) and `tests/x.py` alone.
REFERENCE = re.compile(r"`((?:tests/[\w/]+\.py)?)(?:::(\w+))?[^`]*`")


def defined_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }


def references(text: str) -> list[tuple[str, str | None]]:
    """Each (file, test) a row names, ``::name`` resolved against the file named before it."""
    found, current = [], ""
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        for path, name in REFERENCE.findall(line):
            if path:
                current = path
            elif not name:
                continue
            found.append((current, name or None))
    return found


def test_every_test_the_guarantees_name_exists():
    text = (ROOT / "docs" / "guarantees.md").read_text()
    refs = references(text)
    assert len(refs) > 100
    missing = []
    for path, name in refs:
        file = ROOT / path
        if not path or not file.is_file():
            missing.append(f"{path or '(no file before)'}::{name}")
        elif name and name not in defined_names(file):
            missing.append(f"{path}::{name}")
    assert missing == []


def test_a_renamed_test_is_noticed():
    refs = references("| g | `tests/docs/test_guarantees.py::no_such_test`, `::defined_names` |")
    assert refs == [
        ("tests/docs/test_guarantees.py", "no_such_test"),
        ("tests/docs/test_guarantees.py", "defined_names"),
    ]
    assert "no_such_test" not in defined_names(ROOT / refs[0][0])
