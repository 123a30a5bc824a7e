"""scripts/mutation.py's mutmut configuration: a module outside conversations/ and accounts/
(core/serializers.py) is mutated, not copied as it is."""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_script():
    spec = importlib.util.spec_from_file_location("mutation", ROOT / "scripts" / "mutation.py")
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up while the class is made.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def mutmut_options(workdir: Path, module: str) -> dict:
    shutil.copy(ROOT / "pyproject.toml", workdir / "pyproject.toml")
    for package in ("conversations", "accounts", "core", "chatbot"):
        (workdir / package).mkdir()
    load_script().configure(workdir, module)
    return tomllib.loads((workdir / "pyproject.toml").read_text())["tool"]["mutmut"]


def test_a_module_of_another_package_is_mutated_not_copied(tmp_path):
    options = mutmut_options(tmp_path, "core/serializers.py")

    assert options["only_mutate"] == ["core/serializers.py"]
    assert {"conversations", "accounts", "core"} <= set(options["source_paths"])
    assert "core" not in options["also_copy"] and "chatbot" in options["also_copy"]
    assert "tests/api/test_serializers_strength.py" in options["pytest_add_cli_args_test_selection"]


def test_a_conversations_module_keeps_the_project_source_paths(tmp_path):
    options = mutmut_options(tmp_path, "conversations/validation.py")

    assert sorted(options["source_paths"]) == ["accounts", "conversations"]
    assert {"core", "chatbot"} <= set(options["also_copy"])
    assert options["pytest_add_cli_args_test_selection"] == [
        "tests/conversations/test_validation.py"
    ]
