"""The client address that rate limits key on is decided by DJANGO_TRUSTED_PROXY_COUNT
alone: under the documented uvicorn command, a peer on loopback cannot pick its own address
with a forged X-Forwarded-For (uvicorn's proxy headers, on by default, trust 127.0.0.1)."""

from __future__ import annotations

import re

import httpx
import pytest

from bench.procs import ROOT, UVICORN_FLAGS
from tests.infra.conftest import PASSWORD


def documented_commands() -> dict[str, str]:
    """Each place that starts uvicorn for real, with the command it gives."""
    deployment = (ROOT / "docs" / "deployment.md").read_text()
    service = (ROOT / "deploy" / "chatbot.service").read_text()
    run = (ROOT / "scripts" / "run.sh").read_text().replace("\\\n", " ")
    readme = (ROOT / "README.md").read_text().replace("\\\n", " ")
    return {
        "docs/deployment.md": re.search(r"`(uvicorn chatbot\.asgi:application[^`]*)`", deployment)[
            1
        ],
        "deploy/chatbot.service": re.search(r"^ExecStart=(.*)$", service, re.MULTILINE)[1],
        "scripts/run.sh": re.search(r"^exec .*uvicorn .*$", run, re.MULTILINE)[0],
        "README.md": re.search(r"uvicorn chatbot\.asgi:application.*", readme)[0],
    }


def test_every_documented_uvicorn_command_has_the_flags_the_tests_run_with():
    for place, command in documented_commands().items():
        for flag in UVICORN_FLAGS:
            assert flag in command.split(), f"{place}: {command}"


# Fifteen sign-ins, each hashing a password at the deployed cost: seconds each on a loaded
# machine, more than the suite's 120 s in all. The limit still catches a hang.
@pytest.mark.timeout(600)
def test_forged_forwarded_for_from_loopback_is_one_address_for_the_token_throttle(deployed):
    app = deployed()
    # One client for all: a new one per request loads the CA bundle each time, seconds each
    # on a loaded machine.
    with httpx.Client(base_url=app.url, timeout=30) as client:
        statuses = [
            client.post(
                "/api/auth/token",
                # Another username each time: one account alone is locked sooner (allauth).
                json={"username": f"nobody{n}", "password": "wrong"},
                headers={"X-Forwarded-For": f"203.0.113.{n}"},
            ).status_code
            for n in range(15)
        ]

    assert statuses == [401] * 10 + [429] * 5


def log_in(client: httpx.Client, login: str, password: str, *, forged: str) -> httpx.Response:
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    return client.post(
        "/accounts/login/",
        data={
            "login": login,
            "password": password,
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
        headers={"X-Forwarded-For": forged},
    )


def test_forged_forwarded_for_from_loopback_does_not_escape_allauths_login_limit(deployed):
    app = deployed()
    with httpx.Client(base_url=app.url) as client:
        for n in range(10):
            failed = log_in(client, f"nobody{n}", "wrong", forged=f"198.51.100.{n}")
            assert failed.status_code == 200 and "Too many" not in failed.text

        refused = log_in(client, "ada", PASSWORD, forged="198.51.100.200")

        assert refused.status_code == 200
        assert "Too many failed login attempts" in refused.text
        assert client.get("/settings/").status_code == 302  # still signed out


def test_the_right_password_signs_in_through_the_deployed_app(deployed):
    """The refusal above is the limit's: a fresh process signs the same user in."""
    app = deployed()
    with httpx.Client(base_url=app.url) as client:
        assert log_in(client, "ada", PASSWORD, forged="198.51.100.1").status_code == 302
        assert client.get("/settings/").status_code == 200
