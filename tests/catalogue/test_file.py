"""The catalogue declared in CHATBOT_MODELS_FILE: read at start-up, and a bad file stops
it with a message naming the file and the entry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from catalogue import selectors
from catalogue.file import load_models_file

GOOD = """
[[providers]]
name = "local"
base_url = "http://127.0.0.1:8080/v1"
api_key_env = "LOCAL_API_KEY"

[[providers]]
name = "openai"
base_url = "https://api.openai.com/v1"

[[models]]
id = "llama3.2"
label = "Llama 3.2 (local)"
provider = "local"
context_tokens = 8000
vision = false
default = true
upstream = "meta-llama/Llama-3.2-3B-Instruct"
fallback = "gpt-4o-mini"

[[models]]
id = "gpt-4o-mini"
provider = "openai"
groups = ["Research"]
"""


def load(tmp_path: Path, text: str):
    path = tmp_path / "models.toml"
    path.write_text(text)
    return load_models_file(str(path), default_context_tokens=16000, max_reply_tokens=1000)


def test_a_file_declares_providers_and_models(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCAL_API_KEY", "sk-local")
    llama, mini = load(tmp_path, GOOD)
    assert (llama.id, llama.label, llama.upstream, llama.context_tokens) == (
        "llama3.2",
        "Llama 3.2 (local)",
        "meta-llama/Llama-3.2-3B-Instruct",
        8000,
    )
    assert llama.default and llama.prompt_budget == 7000 and llama.fallback.id == "gpt-4o-mini"
    assert llama.provider.api_key == "sk-local" and llama.provider.api_key_env == "LOCAL_API_KEY"
    assert (mini.label, mini.upstream, mini.context_tokens) == ("gpt-4o-mini", "gpt-4o-mini", 16000)
    assert mini.groups == {"Research"} and mini.provider.api_key == ""


@pytest.mark.parametrize(
    ("change", "line", "message"),
    [
        (
            lambda t: t.replace('provider = "openai"', 'provider = "azure"'),
            23,
            "model 'gpt-4o-mini': unknown provider 'azure'",
        ),
        (
            lambda t: t + "\ndefault = true\n",
            26,
            "exactly one model must have default = true (found 'llama3.2', 'gpt-4o-mini')",
        ),
        (
            lambda t: t.replace("default = true", ""),
            None,
            "exactly one model must have default = true (found none)",
        ),
        (
            lambda t: t.replace('fallback = "gpt-4o-mini"', 'fallback = "gone"'),
            19,
            "model 'llama3.2': fallback 'gone' is not another model",
        ),
        (
            lambda t: t.replace("context_tokens = 8000", 'context_tokens = "8k"'),
            15,
            "model 'llama3.2': context_tokens must be an integer",
        ),
        (
            lambda t: t.replace("vision = false", "vision = 1"),
            16,
            "model 'llama3.2': vision must be true or false",
        ),
        (
            lambda t: t.replace("vision = false", "colour = 1"),
            16,
            "model 'llama3.2': unknown key 'colour'",
        ),
        (
            lambda t: t + '\n[[models]]\nid = "llama3.2"\nprovider = "local"\n',
            27,
            "model 'llama3.2' is declared twice",
        ),
        (
            lambda t: t.replace('base_url = "http://127.0.0.1:8080/v1"', 'base_url = "ftp://x"'),
            4,
            "provider 'local': base_url must be an http or https URL",
        ),
        (
            lambda t: t.replace('name = "openai"', 'name = "local"'),
            8,
            "provider 'local' is declared twice",
        ),
        (
            lambda t: t.replace('id = "gpt-4o-mini"', "id = 4"),
            22,
            "models[1]: id must be a string",
        ),
        (
            lambda t: t.replace('groups = ["Research"]', 'groups = "Research"'),
            24,
            "model 'gpt-4o-mini': groups must be a list of group names",
        ),
        (
            lambda t: t.replace("default = true", "default = true\nenabled = false"),
            18,
            "the default model 'llama3.2' is disabled",
        ),
        (lambda t: t + "\n[[models]\n", None, "not valid TOML"),
        (lambda t: t.split("[[models]]")[0], None, "declares no [[models]]"),
    ],
)
def test_a_bad_file_is_refused_naming_the_file_the_line_and_the_entry(
    tmp_path, monkeypatch, change, line, message
):
    monkeypatch.setenv("LOCAL_API_KEY", "sk-local")
    with pytest.raises(ImproperlyConfigured) as refused:
        load(tmp_path, change(GOOD))
    where = f"CHATBOT_MODELS_FILE {tmp_path / 'models.toml'}"
    assert str(refused.value).startswith(f"{where}, line {line}: " if line else f"{where}: ")
    assert message in str(refused.value)


def test_a_missing_key_variable_is_refused_by_name(tmp_path, monkeypatch):
    monkeypatch.delenv("LOCAL_API_KEY", raising=False)
    with pytest.raises(
        ImproperlyConfigured,
        match=r"models.toml, line 5: provider 'local': api_key_env names LOCAL_API_KEY, which "
        "is not set",
    ):
        load(tmp_path, GOOD)


def test_tables_written_inline_are_refused_without_a_line(tmp_path):
    with pytest.raises(ImproperlyConfigured) as refused:
        load(
            tmp_path,
            'providers = [{name = "p", base_url = "http://127.0.0.1:1/v1"}]\n'
            'models = [{id = "m", provider = "q", default = true}]\n',
        )
    assert str(refused.value) == (
        f"CHATBOT_MODELS_FILE {tmp_path / 'models.toml'}: model 'm': unknown provider 'q'"
    )


def test_bad_toml_names_the_line(tmp_path):
    with pytest.raises(ImproperlyConfigured, match=r"line 3"):
        load(tmp_path, '[[providers]]\nname = "x"\nbase_url = \n')


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="cannot be read"):
        load_models_file(str(tmp_path / "nope.toml"), default_context_tokens=1, max_reply_tokens=1)


def test_the_app_does_not_start_with_a_bad_file(tmp_path):
    path = tmp_path / "models.toml"
    path.write_text(GOOD.replace('provider = "openai"', 'provider = "azure"'))
    env = {
        **os.environ,
        "CHATBOT_MODELS_FILE": str(path),
        "LOCAL_API_KEY": "x",
        "DJANGO_DEBUG": "1",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert (
        f"CHATBOT_MODELS_FILE {path}, line 23: model 'gpt-4o-mini': unknown provider 'azure'"
        in result.stderr
    )


def test_the_file_is_the_catalogue_over_admin_rows(tmp_path, monkeypatch, settings, providers):
    monkeypatch.setenv("LOCAL_API_KEY", "sk-local")
    settings.CHATBOT_MODELS = load(tmp_path, GOOD)
    assert [entry.id for entry in selectors.catalogue()] == ["llama3.2", "gpt-4o-mini"]


def test_without_file_or_rows_the_settings_are_the_catalogue(db, settings):
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    settings.OPENAI_API_KEY = "sk-x"
    settings.CHATBOT_MODEL = "my-model"
    (entry,) = selectors.catalogue()
    assert (entry.id, entry.upstream, entry.default, entry.provider.api_key) == (
        "my-model",
        "my-model",
        True,
        "sk-x",
    )
    settings.OPENAI_BASE_URL = settings.OPENAI_API_KEY = ""
    (demo,) = selectors.catalogue()
    assert demo.id == "demo" and demo.provider is None


def test_the_file_in_the_docs_loads(tmp_path, monkeypatch):
    """docs/models.md's file for OpenAI plus a local server is a file the app accepts."""
    docs = (Path(__file__).parents[2] / "docs" / "models.md").read_text(encoding="utf-8")
    example = docs.split("```toml\n", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("OPENAI_API_KEY", "sk-docs")
    mini, llama = load(tmp_path, example)
    assert (mini.id, mini.default, mini.vision, mini.provider.api_key) == (
        "gpt-4o-mini",
        True,
        True,
        "sk-docs",
    )
    assert (llama.provider.base_url, llama.provider.api_key_env) == ("http://127.0.0.1:8080/v1", "")
    assert llama.upstream == "meta-llama/Llama-3.2-3B-Instruct"
    assert llama.fallback.id == "gpt-4o-mini" and llama.groups == {"Research"}
