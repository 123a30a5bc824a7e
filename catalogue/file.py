"""The catalogue declared in a TOML file (``CHATBOT_MODELS_FILE``), read and checked once
at start-up: a bad file stops the process with a message naming the file and the entry."""

from __future__ import annotations

import os
import tomllib
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from catalogue.entries import ModelEntry, ProviderEntry, reply_tokens_for

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
}


def load_models_file(
    path: str, *, default_context_tokens: int, max_reply_tokens: int
) -> tuple[ModelEntry, ...]:
    """The file's models, checked: providers known, ids unique, exactly one default,
    fallbacks known, every named key variable set."""
    where = f"CHATBOT_MODELS_FILE {path}"
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ImproperlyConfigured(f"{where}: cannot be read ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ImproperlyConfigured(f"{where}: not valid TOML: {exc}") from None
    unknown = set(data) - {"providers", "models"}
    if unknown:
        raise ImproperlyConfigured(f"{where}: unknown table {sorted(unknown)[0]!r}")
    providers = _providers(data.get("providers", []), where)
    raw_models = _table_list(data, "models", where)
    if not raw_models:
        raise ImproperlyConfigured(f"{where}: declares no [[models]]")
    models = [
        _model(
            raw,
            where,
            index,
            providers,
            default_context_tokens=default_context_tokens,
            max_reply_tokens=max_reply_tokens,
        )
        for index, raw in enumerate(raw_models)
    ]
    return _linked(models, raw_models, where)


def _table_list(data: dict, name: str, where: str) -> list[dict]:
    tables = data.get(name, [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ImproperlyConfigured(f"{where}: {name} must be an array of tables ([[{name}]])")
    return tables


def _providers(raw_providers, where: str) -> dict[str, ProviderEntry]:
    providers: dict[str, ProviderEntry] = {}
    for index, raw in enumerate(_table_list({"providers": raw_providers}, "providers", where)):
        at = f"{where}: providers[{index}]"
        _known_keys(raw, PROVIDER_KEYS, at)
        name = _text(raw, "name", at, required=True)
        at = f"{where}: provider {name!r}"
        if name in providers:
            raise ImproperlyConfigured(f"{at} is declared twice")
        base_url = _text(raw, "base_url", at, required=True)
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ImproperlyConfigured(f"{at}: base_url must be an http or https URL")
        key_env = _text(raw, "api_key_env", at)
        if key_env and key_env not in os.environ:
            raise ImproperlyConfigured(
                f"{at}: api_key_env names {key_env}, which is not set in the environment"
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
    where: str,
    index: int,
    providers: dict[str, ProviderEntry],
    *,
    default_context_tokens: int,
    max_reply_tokens: int,
) -> ModelEntry:
    model_id = _text(raw, "id", f"{where}: models[{index}]", required=True)
    at = f"{where}: model {model_id!r}"
    _known_keys(raw, MODEL_KEYS, at)
    provider = _text(raw, "provider", at, required=True)
    if provider not in providers:
        raise ImproperlyConfigured(f"{at}: unknown provider {provider!r}")
    context_tokens = raw.get("context_tokens", default_context_tokens)
    if type(context_tokens) is not int or context_tokens < 2:
        raise ImproperlyConfigured(f"{at}: context_tokens must be an integer of at least 2")
    groups = raw.get("groups", [])
    if not isinstance(groups, list) or not all(isinstance(g, str) and g for g in groups):
        raise ImproperlyConfigured(f"{at}: groups must be a list of group names")
    return ModelEntry(
        id=model_id,
        label=_text(raw, "label", at) or model_id,
        provider=providers[provider],
        upstream=_text(raw, "upstream", at) or model_id,
        context_tokens=context_tokens,
        reply_tokens=reply_tokens_for(
            context_tokens=context_tokens, max_reply_tokens=max_reply_tokens
        ),
        vision=_flag(raw, "vision", at, False),
        default=_flag(raw, "default", at, False),
        enabled=_flag(raw, "enabled", at, True),
        groups=frozenset(groups),
    )


def _linked(models: list[ModelEntry], raw_models: list[dict], where: str) -> tuple:
    """The models with their fallbacks attached, after the checks that need them all."""
    by_id: dict[str, ModelEntry] = {}
    for model in models:
        if model.id in by_id:
            raise ImproperlyConfigured(f"{where}: model {model.id!r} is declared twice")
        by_id[model.id] = model
    defaults = [m.id for m in models if m.default]
    if len(defaults) != 1:
        found = ", ".join(repr(d) for d in defaults) or "none"
        raise ImproperlyConfigured(
            f"{where}: exactly one model must have default = true (found {found})"
        )
    if not by_id[defaults[0]].enabled:
        raise ImproperlyConfigured(f"{where}: the default model {defaults[0]!r} is disabled")
    linked = []
    for model, raw in zip(models, raw_models, strict=True):
        fallback_id = _text(raw, "fallback", f"{where}: model {model.id!r}")
        if fallback_id and (fallback_id not in by_id or fallback_id == model.id):
            raise ImproperlyConfigured(
                f"{where}: model {model.id!r}: fallback {fallback_id!r} is not another model "
                "of the file"
            )
        linked.append(replace(model, fallback=by_id[fallback_id]) if fallback_id else model)
    return tuple(linked)


def _known_keys(raw: dict, allowed: set[str], at: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ImproperlyConfigured(f"{at}: unknown key {unknown[0]!r}")


def _text(raw: dict, key: str, at: str, *, required: bool = False) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str):
        raise ImproperlyConfigured(f"{at}: {key} must be a string")
    if required and not value.strip():
        raise ImproperlyConfigured(f"{at}: {key} is required")
    return value.strip()


def _flag(raw: dict, key: str, at: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise ImproperlyConfigured(f"{at}: {key} must be true or false")
    return value
