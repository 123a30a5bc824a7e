"""The README's curl walk runs as written against the deployed app, and a wrong password
stops it at the first command instead of carrying the token ``null`` onwards."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from bench.procs import ROOT
from tests.infra.conftest import PASSWORD


def readme_script(base: str, password: str) -> str:
    """The README's block for ada@example.com (the deployed app's user) at ``base``."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## The REST API with curl") :]
    script = re.search(r"```sh\n(.*?)```", section, re.DOTALL)[1]
    for shipped, here in (
        ("BASE=http://127.0.0.1:8000", f"BASE={base}"),
        ('"password": "your password"', f'"password": "{password}"'),
    ):
        assert shipped in script
        script = script.replace(shipped, here)
    return script


def run(script: str) -> subprocess.CompletedProcess:
    if shutil.which("curl") is None or shutil.which("jq") is None:
        pytest.fail("curl and jq are required (apt-get install curl jq)")
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)


def test_the_readme_curl_walk_runs_through(deployed):
    app = deployed()

    walked = run(readme_script(app.url, PASSWORD))

    assert walked.returncode == 0, walked.stderr
    assert "event: done" in walked.stdout and '"success":true' in walked.stdout


def test_a_wrong_password_stops_the_readme_curl_walk_at_the_token(deployed):
    app = deployed()

    walked = run(readme_script(app.url, "not the password"))

    assert walked.returncode != 0
    assert "401" in walked.stderr
    assert walked.stdout == ""  # nothing after the token was sent
