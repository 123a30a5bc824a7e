"""deploy/chatbot.service is a unit systemd accepts without a warning."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from bench.procs import ROOT


def test_the_systemd_unit_verifies_cleanly(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is required (apt-get install systemd)")
    unit = (ROOT / "deploy" / "chatbot.service").read_text()
    environment_file = tmp_path / "env"
    environment_file.write_text("DJANGO_SECRET_KEY=unit-test\n")
    # This machine's checkout stands in for /srv/chatbot, whose interpreter verify looks for.
    for installed, here in (
        ("/srv/chatbot/.venv/bin/python ", f"{sys.executable} "),
        ("WorkingDirectory=/srv/chatbot\n", f"WorkingDirectory={ROOT}\n"),
        ("EnvironmentFile=/etc/chatbot/env\n", f"EnvironmentFile={environment_file}\n"),
    ):
        assert installed in unit
        unit = unit.replace(installed, here)
    path = tmp_path / "chatbot.service"
    path.write_text(unit)

    verified = subprocess.run(
        ["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60
    )

    # verify exits 0 on unknown keys and bad values, only warning: any output is a failure.
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout + verified.stderr == ""


def test_the_unit_points_the_media_folder_at_a_directory_it_may_write():
    # ProtectSystem=strict makes every other path read-only: uploads would fail there.
    unit = (ROOT / "deploy" / "chatbot.service").read_text()
    assert "ProtectSystem=strict" in unit
    media_root = re.search(r"^Environment=DJANGO_MEDIA_ROOT=(\S+)$", unit, re.MULTILINE)[1]
    state = re.search(r"^StateDirectory=(\S+)$", unit, re.MULTILINE)[1]
    assert media_root.startswith(f"/var/lib/{state}/")
