"""Settings are read and checked at start-up: a bad value of any validated variable stops
``django.setup()`` with an error naming the variable, and the README's configuration table
lists every variable the settings read."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from bench.procs import ROOT

SETTINGS = ROOT / "chatbot" / "settings.py"
SETUP = "import django; django.setup()"

# One bad value per validated variable, each a mistake an operator could make.
BAD_VALUES = {
    "DJANGO_DEBUG": "treu",
    "DATABASE_URL": "postgress//localhost/chatbot",
    "DATABASE_CONN_MAX_AGE": "-1",
    "SQLITE_BUSY_TIMEOUT": "thirty",
    "REDIS_URL": "localhost:6379",
    "ACCOUNT_EMAIL_VERIFICATION": "required",
    "EMAIL_PORT": "0",
    "EMAIL_USE_TLS": "sometimes",
    "DJANGO_SECURE_SSL_REDIRECT": "maybe",
    "DJANGO_SECURE_HSTS_SECONDS": "1y",
    "DJANGO_TRUSTED_PROXY_COUNT": "-1",
    "DJANGO_MAX_BODY_BYTES": "0",
    "API_TOKEN_TTL_DAYS": "0",
    "OPENAI_BASE_URL": "127.0.0.1:8080/v1",
    "CHATBOT_TEMPERATURE": "warm",
    "CHATBOT_CONTEXT_TOKENS": "0",
    "CHATBOT_MAX_MESSAGE_CHARS": "10k",
    "CHATBOT_LLM_TIMEOUT": "0",
    "CHATBOT_LLM_MAX_RETRIES": "-1",
    "CHATBOT_LLM_DEADLINE": "-5",
    "CHATBOT_MAX_REPLY_TOKENS": "0",
    "CHATBOT_MODELS_FILE": "/nonexistent/models.toml",
    "CHATBOT_RATE_LIMIT": "20/mn",
    "CHATBOT_DAILY_TOKEN_QUOTA": "-1",
    "CHATBOT_MODERATION": "strict",
    "CHATBOT_STREAM_SAVE_INTERVAL": "0",
    "CHATBOT_STREAM_HEARTBEAT": "nan",
    "CHATBOT_STREAM_STALE_AFTER": "inf",
    "CHATBOT_DEMO_DELAY": "-0.1",
    "CHATBOT_FINAL_SAVE_RETRY": "-1",
    "CHATBOT_DB_THREADS": "0",
    "DJANGO_LOG_LEVEL": "LOUD",
}


def start(**environment: str) -> subprocess.CompletedProcess:
    """``django.setup()`` with the production settings, in a process of its own."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatbot.settings",
        "DJANGO_SECRET_KEY": "settings-test-" + "x" * 40,
        **environment,
    }
    return subprocess.run(
        [sys.executable, "-c", SETUP], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_the_settings_start_with_good_values():
    started = start(**{name: "" for name in BAD_VALUES})
    assert started.returncode == 0, started.stderr


@pytest.mark.parametrize(("name", "value"), BAD_VALUES.items())
def test_a_bad_value_stops_the_start_naming_its_variable(name, value):
    started = start(**{name: value})

    assert started.returncode != 0
    last_line = started.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in last_line and name in last_line


def variables_read_by_settings() -> set[str]:
    return set(re.findall(r'\benv_\w+\(\s*"([A-Z][A-Z0-9_]*)"', SETTINGS.read_text()))


def variables_in_readme_table() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    start_at = readme.index("| variable | default | meaning |")
    table = readme[start_at : readme.index("\n\n", start_at)]
    listed: set[str] = set()
    for row in table.splitlines()[2:]:
        listed |= set(re.findall(r"`([A-Z][A-Z0-9_]*)`", row.split("|")[1]))
    return listed


def test_the_readme_table_lists_every_variable_the_settings_read():
    read = variables_read_by_settings()
    assert len(read) > 40  # the parse found the settings' reads
    assert read - variables_in_readme_table() == set()


def test_every_validated_variable_is_read_by_the_settings():
    assert set(BAD_VALUES) <= variables_read_by_settings()
