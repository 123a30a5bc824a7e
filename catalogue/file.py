"""The catalogue declared in a TOML file (``CHATBOT_MODELS_FILE``), read and checked once
at start-up: a bad file stops the process with a message naming the file, the line and the
entry."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from catalogue.entries import ModelEntry, Price, ProviderEntry, reply_tokens_for

PROVIDER_KEYS = {"name", "base_url", "api_key_env"}
MODEL_KEYS = {
    "id",
    "label",
    "provider",
    "upstream",
    "context_tokens",
    "vision",
    "default",
    "fallback",
    "enabled",
    "groups",
    "price_input",
    "price_cached_input",
    "price_output",
}
# As Model's price fields: 12 digits, 6 of them decimals.
PRICE_PLACES = 6
MAX_PRICE = 1_000_000


HEADER = re.compile(r"^\s*\[\[\s*(providers|models)\s*\]\]\s*(?:#.*)?$")
ANY_HEADER = re.compile(r"^\s*\[")


class Places:
    """Where the file's tables and keys are, so that a message names the line to fix."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.headers: dict[str, list[int]] = {"providers": [], "models": []}
        for number, line in enumerate(self.lines, start=1):
            found = HEADER.match(line)
            if found:
                self.headers[found.group(1)].append(number)

    def agree(self, data: dict) -> None:
        """Forget the lines of a table whose headers do not match its entries one for one
        (written inline, or a header inside a multi-line string): better no line than a
        wrong one."""
        for table, headers in self.headers.items():
            entries = data.get(table)
            if not isinstance(entries, list) or len(entries) != len(headers):
                headers.clear()

    @property
    def file(self) -> str:
        return f"CHATBOT_MODELS_FILE {self.path}"

    def at(self, table: str, index: int, key: str | None = None) -> str:
        """The file and line of ``table``'s entry ``index`` (its ``key`` when given); no
        line for tables written inline (``models = [...]``)."""
        headers = self.headers[table]
        if index >= len(headers):
            return self.file
        start = headers[index]
        line = start
        if key is not None:
            pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
            for number in range(start + 1, len(self.lines) + 1):
                text = self.lines[number - 1]
                if ANY_HEADER.match(text):
                    break
                if pattern.match(text):
                    line = number
                    break
        return f"{self.file}, line {line}"


def load_models_file(
    path: str, *, default_context_tokens: int, max_reply_tokens: int
) -> tuple[ModelEntry, ...]:
    """The file's models, checked: providers known, ids unique, exactly one default,
    fallbacks known, every named key variable set. A refusal names the file, the line
    and the entry."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ImproperlyConfigured(
            f"CHATBOT_MODELS_FILE {path}: cannot be read ({exc.strerror})"
        ) from None
    except UnicodeDecodeError as exc:
        raise ImproperlyConfigured(f"CHATBOT_MODELS_FILE {path}: not UTF-8 text: {exc}") from None
    places = Places(path, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ImproperlyConfigured(f"{places.file}: not valid TOML: {exc}") from None
    places.agree(data)
    unknown = set(data) - {"providers", "models"}
    if unknown:
        raise ImproperlyConfigured(f"{places.file}: unknown table {sorted(unknown)[0]!r}")
    providers = _providers(_table_list(data, "providers", places), places)
    raw_models = _table_list(data, "models", places)
    if not raw_models:
        raise ImproperlyConfigured(f"{places.file}: declares no [[models]]")
    models = [
        _model(
            raw,
            places,
            index,
            providers,
            default_context_tokens=default_context_tokens,
            max_reply_tokens=max_reply_tokens,
        )
        for index, raw in enumerate(raw_models)
    ]
    return _linked(models, raw_models, places)


def _table_list(data: dict, name: str, places: Places) -> list[dict]:
    tables = data.get(name, [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ImproperlyConfigured(f"{places.file}: {name} must be an array of tables ([[{name}]])")
    return tables


def _providers(raw_providers: list[dict], places: Places) -> dict[str, ProviderEntry]:
    providers: dict[str, ProviderEntry] = {}
    for index, raw in enumerate(raw_providers):
        at = partial(places.at, "providers", index)
        _known_keys(raw, PROVIDER_KEYS, at, f"providers[{index}]")
        name = _text(raw, "name", at, f"providers[{index}]", required=True)
        entry = f"provider {name!r}"
        if name in providers:
            raise ImproperlyConfigured(f"{at('name')}: {entry} is declared twice")
        base_url = _text(raw, "base_url", at, entry, required=True)
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ImproperlyConfigured(
                f"{at('base_url')}: {entry}: base_url must be an http or https URL"
            )
        key_env = _text(raw, "api_key_env", at, entry)
        if key_env and key_env not in os.environ:
            raise ImproperlyConfigured(
                f"{at('api_key_env')}: {entry}: api_key_env names {key_env}, which is not set "
                "in the environment"
            )
        providers[name] = ProviderEntry(
            name=name,
            base_url=base_url,
            api_key_env=key_env,
            api_key=os.environ.get(key_env, "") if key_env else "",
        )
    return providers


def _model(
    raw: dict,
    places: Places,
    index: int,
    providers: dict[str, ProviderEntry],
    *,
    default_context_tokens: int,
    max_reply_tokens: int,
) -> ModelEntry:
    at = partial(places.at, "models", index)
    model_id = _text(raw, "id", at, f"models[{index}]", required=True)
    entry = f"model {model_id!r}"
    _known_keys(raw, MODEL_KEYS, at, entry)
    provider = _text(raw, "provider", at, entry, required=True)
    if provider not in providers:
        raise ImproperlyConfigured(f"{at('provider')}: {entry}: unknown provider {provider!r}")
    context_tokens = raw.get("context_tokens", default_context_tokens)
    if type(context_tokens) is not int or context_tokens < 2:
        raise ImproperlyConfigured(
            f"{at('context_tokens')}: {entry}: context_tokens must be an integer of at least 2"
        )
    groups = raw.get("groups", [])
    if not isinstance(groups, list) or not all(isinstance(g, str) and g for g in groups):
        raise ImproperlyConfigured(f"{at('groups')}: {entry}: groups must be a list of group names")
    return ModelEntry(
        id=model_id,
        label=_text(raw, "label", at, entry) or model_id,
        provider=providers[provider],
        upstream=_text(raw, "upstream", at, entry) or model_id,
        context_tokens=context_tokens,
        reply_tokens=reply_tokens_for(
            context_tokens=context_tokens, max_reply_tokens=max_reply_tokens
        ),
        vision=_flag(raw, "vision", at, entry, False),
        default=_flag(raw, "default", at, entry, False),
        enabled=_flag(raw, "enabled", at, entry, True),
        groups=frozenset(groups),
        price=Price(
            input=_price(raw, "price_input", at, entry),
            cached_input=_price(raw, "price_cached_input", at, entry),
            output=_price(raw, "price_output", at, entry),
        ),
    )


def _linked(models: list[ModelEntry], raw_models: list[dict], places: Places) -> tuple:
    """The models with their fallbacks attached, after the checks that need them all."""
    by_id: dict[str, ModelEntry] = {}
    for index, model in enumerate(models):
        if model.id in by_id:
            raise ImproperlyConfigured(
                f"{places.at('models', index, 'id')}: model {model.id!r} is declared twice"
            )
        by_id[model.id] = model
    defaults = [index for index, model in enumerate(models) if model.default]
    if len(defaults) != 1:
        found = ", ".join(repr(models[index].id) for index in defaults) or "none"
        where = places.at("models", defaults[1], "default") if defaults else places.file
        raise ImproperlyConfigured(
            f"{where}: exactly one model must have default = true (found {found})"
        )
    default = models[defaults[0]]
    if not default.enabled:
        raise ImproperlyConfigured(
            f"{places.at('models', defaults[0], 'enabled')}: the default model "
            f"{default.id!r} is disabled"
        )
    linked = []
    for index, (model, raw) in enumerate(zip(models, raw_models, strict=True)):
        at = partial(places.at, "models", index)
        fallback_id = _text(raw, "fallback", at, f"model {model.id!r}")
        if fallback_id and (fallback_id not in by_id or fallback_id == model.id):
            raise ImproperlyConfigured(
                f"{at('fallback')}: model {model.id!r}: fallback {fallback_id!r} is not "
                "another model of the file"
            )
        linked.append(replace(model, fallback=by_id[fallback_id]) if fallback_id else model)
    return tuple(linked)


def _known_keys(raw: dict, allowed: set[str], at: Callable[..., str], entry: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ImproperlyConfigured(f"{at(unknown[0])}: {entry}: unknown key {unknown[0]!r}")


def _text(
    raw: dict, key: str, at: Callable[..., str], entry: str, *, required: bool = False
) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str):
        raise ImproperlyConfigured(f"{at(key)}: {entry}: {key} must be a string")
    if required and not value.strip():
        raise ImproperlyConfigured(f"{at(key)}: {entry}: {key} is required")
    return value.strip()


def _flag(raw: dict, key: str, at: Callable[..., str], entry: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise ImproperlyConfigured(f"{at(key)}: {entry}: {key} must be true or false")
    return value


def _price(raw: dict, key: str, at: Callable[..., str], entry: str) -> Decimal | None:
    """A price per million tokens, held to what the admin's price fields accept."""
    if key not in raw:
        return None
    value = raw[key]
    # A float is read from its shortest text, so 0.15 is 0.15, not 0.1499999….
    price = Decimal(str(value)) if type(value) in (int, float) else Decimal("NaN")
    exponent = price.as_tuple().exponent
    if not isinstance(exponent, int) or not 0 <= price < MAX_PRICE or exponent < -PRICE_PLACES:
        raise ImproperlyConfigured(
            f"{at(key)}: {entry}: {key} must be a number from 0 to under {MAX_PRICE} with at "
            f"most {PRICE_PLACES} decimals (a price per million tokens)"
        )
    return price
