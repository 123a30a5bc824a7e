"""`make mutation` runs the tests in mutmut's copy of the tree: every app of the project
must be in that copy, or the run fails to import it (as it did when new apps landed)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def test_mutmut_copies_every_app_of_the_project():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    copied = set(config["source_paths"]) | set(config["also_copy"])
    local_apps = {
        app.split(".")[0] for app in settings.INSTALLED_APPS if (ROOT / app.split(".")[0]).is_dir()
    }

    assert local_apps - copied == set()
    assert (ROOT / "locale").is_dir() and "locale" in copied
