"""catalogue/file.py read directly, the cases mutation testing found unchecked: each refusal
whole (file, line, entry, sentence), the line of a key found under its own table only,
tables whose lines cannot be trusted, values at their edges (context_tokens 1 and 2, prices
at 6 and 7 decimals, under and at the maximum), and the defaults of every optional key."""

from __future__ import annotations

import locale
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from catalogue.entries import ModelEntry, Price, ProviderEntry
from catalogue.file import Places, load_models_file

PROVIDER = '[[providers]]\nname = "p"\nbase_url = "http://127.0.0.1:1/v1"\n'


def model(body: str = "", model_id: str = "m", default: bool = True) -> str:
    flag = "default = true\n" if default else ""
    return f'\n[[models]]\nid = "{model_id}"\nprovider = "p"\n{flag}{body}'


def load(tmp_path: Path, text: str, *, window: int = 4000, most: int = 1000):
    path = tmp_path / "models.toml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return load_models_file(str(path), default_context_tokens=window, max_reply_tokens=most)


def refusal(tmp_path: Path, text, **kwargs) -> str:
    with pytest.raises(ImproperlyConfigured) as caught:
        load(tmp_path, text, **kwargs)
    prefix = f"CHATBOT_MODELS_FILE {tmp_path / 'models.toml'}"
    message = str(caught.value)
    assert message.startswith(prefix)
    return message.removeprefix(prefix)


def test_every_optional_key_has_its_default(tmp_path):
    (entry,) = load(tmp_path, PROVIDER + model(), window=4000, most=1000)
    assert entry == ModelEntry(
        id="m",
        label="m",
        provider=ProviderEntry(name="p", base_url="http://127.0.0.1:1/v1", api_key_env=""),
        upstream="m",
        context_tokens=4000,
        reply_tokens=1000,
        vision=False,
        default=True,
        enabled=True,
        groups=frozenset(),
        fallback=None,
        price=Price(),
    )


def test_every_key_given_is_read_and_text_is_stripped(tmp_path, monkeypatch):
    monkeypatch.setenv("P_KEY", "sk-p")
    text = (
        '[[providers]]\nname = " p "\nbase_url = " https://example.org/v1 "\n'
        'api_key_env = " P_KEY "\n'
        + model(
            'label = " Main "\nupstream = " vendor/m "\ncontext_tokens = 2\nvision = true\n'
            'enabled = true\ngroups = ["a", "b"]\nprice_input = 1\nprice_cached_input = 0.15\n'
            "price_output = 999999.999999\n"
        )
        + model('fallback = " m "\nenabled = false\n', model_id="n", default=False)
    )

    main, other = load(tmp_path, text, most=1000)

    provider = ProviderEntry(
        name="p", base_url="https://example.org/v1", api_key_env="P_KEY", api_key="sk-p"
    )
    assert main == ModelEntry(
        id="m",
        label="Main",
        provider=provider,
        upstream="vendor/m",
        context_tokens=2,
        reply_tokens=1,
        vision=True,
        default=True,
        enabled=True,
        groups=frozenset({"a", "b"}),
        price=Price(
            input=Decimal(1), cached_input=Decimal("0.15"), output=Decimal("999999.999999")
        ),
    )
    assert (other.id, other.enabled, other.default, other.fallback) == ("n", False, False, main)


REFUSALS = [
    (
        PROVIDER + model("context_tokens = 1\n"),
        ", line 9: model 'm': context_tokens must be an integer of at least 2",
    ),
    (
        PROVIDER + model("context_tokens = true\n"),
        ", line 9: model 'm': context_tokens must be an integer of at least 2",
    ),
    (
        PROVIDER + model("context_tokens = 2.0\n"),
        ", line 9: model 'm': context_tokens must be an integer of at least 2",
    ),
    (
        PROVIDER + model('groups = ["a", ""]\n'),
        ", line 9: model 'm': groups must be a list of group names",
    ),
    (
        PROVIDER + model("groups = [1]\n"),
        ", line 9: model 'm': groups must be a list of group names",
    ),
    (
        PROVIDER + model("label = 5\n"),
        ", line 9: model 'm': label must be a string",
    ),
    (
        PROVIDER + model('enabled = "yes"\n'),
        ", line 9: model 'm': enabled must be true or false",
    ),
    (
        PROVIDER + model("upstream = 5\n"),
        ", line 9: model 'm': upstream must be a string",
    ),
    (
        PROVIDER + model('vision = "yes"\n'),
        ", line 9: model 'm': vision must be true or false",
    ),
    (
        PROVIDER + model("default = 1\n", default=False),
        ", line 8: model 'm': default must be true or false",
    ),
    (
        PROVIDER + model('price_input = "1"\n'),
        ", line 9: model 'm': price_input must be a number from 0 to under 1000000 with at "
        "most 6 decimals (a price per million tokens)",
    ),
    (
        PROVIDER + model("price_output = -1\n"),
        ", line 9: model 'm': price_output must be a number from 0 to under 1000000 with at "
        "most 6 decimals (a price per million tokens)",
    ),
    (
        PROVIDER + model("zeta = 1\nalpha = 2\n"),
        ", line 10: model 'm': unknown key 'alpha'",
    ),
    (
        PROVIDER + model('provider = "  "\n').replace('provider = "p"\n', ""),
        ", line 8: model 'm': provider is required",
    ),
    (
        PROVIDER + model().replace('id = "m"', 'id = "  "'),
        ", line 6: models[0]: id is required",
    ),
    (
        PROVIDER + model().replace('id = "m"\n', ""),
        ", line 5: models[0]: id is required",
    ),
    (
        PROVIDER + model('fallback = "m"\n'),
        ", line 9: model 'm': fallback 'm' is not another model of the file",
    ),
    (
        PROVIDER + model("fallback = 5\n"),
        ", line 9: model 'm': fallback must be a string",
    ),
    (
        PROVIDER + model('fallback = "gone"\n'),
        ", line 9: model 'm': fallback 'gone' is not another model of the file",
    ),
    (
        PROVIDER + model("enabled = false\n"),
        ", line 9: the default model 'm' is disabled",
    ),
    (
        PROVIDER + model() + model(model_id="n"),
        ", line 13: exactly one model must have default = true (found 'm', 'n')",
    ),
    (
        PROVIDER + model(default=False),
        ": exactly one model must have default = true (found none)",
    ),
    (
        PROVIDER + model() + model(model_id="m", default=False),
        ", line 11: model 'm' is declared twice",
    ),
    (
        '[[providers]]\nname = "p"\n' + model(),
        ", line 1: provider 'p': base_url is required",
    ),
    (
        '[[providers]]\nbase_url = "http://x"\n' + model(),
        ", line 1: providers[0]: name is required",
    ),
    (
        '[[providers]]\nname = "p"\nbase_url = "http://"\n' + model(),
        ", line 3: provider 'p': base_url must be an http or https URL",
    ),
    (
        '[[providers]]\nname = "p"\nbase_url = "file:///x"\n' + model(),
        ", line 3: provider 'p': base_url must be an http or https URL",
    ),
    (
        PROVIDER + 'key = "x"\n' + model(),
        ", line 4: providers[0]: unknown key 'key'",
    ),
    (
        PROVIDER + 'api_key_env = "NOT_SET_ANYWHERE_9"\n' + model(),
        ", line 4: provider 'p': api_key_env names NOT_SET_ANYWHERE_9, which is not set "
        "in the environment",
    ),
    (
        PROVIDER + "api_key_env = 5\n" + model(),
        ", line 4: provider 'p': api_key_env must be a string",
    ),
    (
        PROVIDER + PROVIDER + model(),
        ", line 5: provider 'p' is declared twice",
    ),
    (
        PROVIDER + model() + "\n[extra]\n",
        ": unknown table 'extra'",
    ),
    (
        "zz = 1\naa = 2\n" + PROVIDER + model(),
        ": unknown table 'aa'",
    ),
    (
        PROVIDER,
        ": declares no [[models]]",
    ),
    (
        "providers = 5\n" + model(),
        ": providers must be an array of tables ([[providers]])",
    ),
    (
        "models = [1]\n",
        ": models must be an array of tables ([[models]])",
    ),
]


@pytest.mark.parametrize(("text", "message"), REFUSALS)
def test_each_refusal_names_the_file_the_line_the_entry_and_the_rule(tmp_path, text, message):
    assert refusal(tmp_path, text) == message


def test_an_unknown_provider_is_named(tmp_path):
    text = PROVIDER + model().replace('provider = "p"', 'provider = "q"')
    assert refusal(tmp_path, text) == ", line 7: model 'm': unknown provider 'q'"


@pytest.mark.parametrize(
    ("value", "price"),
    [
        ("0", Decimal(0)),
        ("0.000001", Decimal("0.000001")),
        ("999999.999999", Decimal("999999.999999")),
        ("2.50", Decimal("2.50")),
        ("15", Decimal(15)),
    ],
)
def test_a_price_is_from_0_to_under_a_million_with_6_decimals(tmp_path, value, price):
    (entry,) = load(tmp_path, PROVIDER + model(f"price_output = {value}\n"))
    assert entry.price == Price(output=price)


@pytest.mark.parametrize(
    "value", ["-0.01", "1000000", "0.0000001", "true", '"1"', "inf", "nan", "[1]"]
)
def test_a_bad_price_is_refused_whole(tmp_path, value):
    assert refusal(tmp_path, PROVIDER + model(f"price_cached_input = {value}\n")) == (
        ", line 9: model 'm': price_cached_input must be a number from 0 to under 1000000 "
        "with at most 6 decimals (a price per million tokens)"
    )


def test_a_file_that_cannot_be_read_or_is_not_utf8_or_toml(tmp_path):
    missing = tmp_path / "gone.toml"
    with pytest.raises(ImproperlyConfigured) as caught:
        load_models_file(str(missing), default_context_tokens=10, max_reply_tokens=5)
    assert str(caught.value) == (
        f"CHATBOT_MODELS_FILE {missing}: cannot be read (No such file or directory)"
    )
    message = refusal(tmp_path, b"\xff\xfe")
    assert message.startswith(": not UTF-8 text: 'utf-8' codec can't decode byte 0xff")
    assert refusal(tmp_path, "a = \n").startswith(": not valid TOML: Invalid value (at line 1")


def test_the_file_is_read_as_utf8_whatever_the_locale(tmp_path):
    text = PROVIDER + model('label = "Modèle à 5 €"\n')
    before = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")  # ASCII: the locale's encoding would refuse "è"
    try:
        (entry,) = load(tmp_path, text)
    finally:
        locale.setlocale(locale.LC_CTYPE, before)
    assert entry.label == "Modèle à 5 €"


def test_a_keys_line_is_looked_for_under_its_own_table_only(tmp_path):
    text = (
        PROVIDER
        + '\n[[models]]  # the first\nid = "m"\nprovider = "p"\ndefault = true\n'
        + '\n[[models]]\nid = "n"\nprovider = "p"\n\n  context_tokens   = 1\n'
    )
    assert refusal(tmp_path, text) == (
        ", line 14: model 'n': context_tokens must be an integer of at least 2"
    )
    # Not under its table: the table's own line, not a later table's key.
    places = Places("f", text)
    assert places.at("models", 0, "context_tokens") == "CHATBOT_MODELS_FILE f, line 5"
    assert places.at("models", 1, "context_tokens") == "CHATBOT_MODELS_FILE f, line 14"
    assert places.at("models", 1) == "CHATBOT_MODELS_FILE f, line 10"
    assert places.at("models", 2, "id") == "CHATBOT_MODELS_FILE f"
    assert places.at("providers", 0, "base_url") == "CHATBOT_MODELS_FILE f, line 3"


def test_a_key_of_the_same_prefix_is_not_the_key(tmp_path):
    places = Places("f", '[[models]]\nid_old = 1\nid = "m"\n')
    assert places.at("models", 0, "id") == "CHATBOT_MODELS_FILE f, line 3"
    places = Places("f", '[[models]]\nidentity = 1\n[other]\nid = "m"\n')
    assert places.at("models", 0, "id") == "CHATBOT_MODELS_FILE f, line 1"


def test_lines_are_forgotten_when_headers_and_entries_disagree():
    text = 'x = """\n[[models]]\n"""\n[[models]]\nid = "m"\n[[providers]]\nname = "p"\n'
    places = Places("f", text)
    assert places.headers == {"providers": [6], "models": [2, 4]}
    places.agree({"models": [{"id": "m"}], "providers": [{"name": "p"}]})
    assert places.headers == {"providers": [6], "models": []}
    assert places.at("models", 0, "id") == "CHATBOT_MODELS_FILE f"
    places.agree({"providers": "not a list"})
    assert places.headers == {"providers": [], "models": []}


def test_inline_tables_are_read_without_lines(tmp_path):
    text = (
        'providers = [{name = "p", base_url = "http://127.0.0.1:1/v1"}]\n'
        'models = [{id = "m", provider = "p", default = true}, {id = "n", provider = "p", '
        "context_tokens = 1}]\n"
    )
    assert refusal(tmp_path, text) == (
        ": model 'n': context_tokens must be an integer of at least 2"
    )
