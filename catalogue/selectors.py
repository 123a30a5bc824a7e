"""The catalogue, read: the models a user may use and the one a conversation uses.

Its source, in order: the TOML file (``settings.CHATBOT_MODELS``, read at start-up), the
admin rows, or else one model built from ``OPENAI_BASE_URL``, ``OPENAI_API_KEY`` and
``CHATBOT_MODEL`` (the demo backend when neither URL nor key is set): today's behaviour.
"""

from __future__ import annotations

import os
from dataclasses import replace

from django.conf import settings

from catalogue.entries import ModelEntry, Price, ProviderEntry, reply_tokens_for
from catalogue.models import Model
from core.errors import InvalidInput

DEMO_MODEL_ID = "demo"


def catalogue() -> tuple[ModelEntry, ...]:
    """Every model, enabled or not, the default first."""
    if settings.CHATBOT_MODELS is not None:
        entries = settings.CHATBOT_MODELS
    else:
        entries = _admin_entries() or (implicit_model(),)
    return tuple(sorted(entries, key=lambda entry: not entry.default))


def file_providers() -> tuple[ProviderEntry, ...]:
    """The providers of ``CHATBOT_MODELS_FILE``'s models, in the file's order (none without
    a file)."""
    found: dict[str, ProviderEntry] = {}
    for entry in settings.CHATBOT_MODELS or ():
        if entry.provider is not None:
            found.setdefault(entry.provider.name, entry.provider)
    return tuple(found.values())


def uses_admin_rows() -> bool:
    return settings.CHATBOT_MODELS is None


def implicit_model() -> ModelEntry:
    """The one model of the settings: the catalogue with neither a file nor admin rows."""
    window = settings.CHATBOT_CONTEXT_TOKENS
    reply = reply_tokens_for(
        context_tokens=window, max_reply_tokens=settings.CHATBOT_MAX_REPLY_TOKENS
    )
    if not (settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL):
        return ModelEntry(
            id=DEMO_MODEL_ID,
            label="Demo",
            provider=None,
            upstream=DEMO_MODEL_ID,
            context_tokens=window,
            reply_tokens=reply,
            default=True,
        )
    provider = ProviderEntry(
        name="default",
        base_url=settings.OPENAI_BASE_URL,
        api_key_env="OPENAI_API_KEY",
        api_key=settings.OPENAI_API_KEY,
    )
    return ModelEntry(
        id=settings.CHATBOT_MODEL,
        label=settings.CHATBOT_MODEL,
        provider=provider,
        upstream=settings.CHATBOT_MODEL,
        context_tokens=window,
        reply_tokens=reply,
        default=True,
    )


def prices() -> dict[str, Price]:
    """Every catalogued model's prices by id, for pricing stored usage; one query at most
    (none with a file)."""
    if settings.CHATBOT_MODELS is not None:
        return {entry.id: entry.price for entry in settings.CHATBOT_MODELS}
    rows = Model.objects.order_by().values_list(
        "pk", "price_input", "price_cached_input", "price_output"
    )
    return {
        pk: Price(input=price_input, cached_input=cached, output=output)
        for pk, price_input, cached, output in rows
    }


def provider_entry(provider) -> ProviderEntry:
    """A provider row as an entry, its key read from the environment now."""
    return ProviderEntry(
        name=provider.name,
        base_url=provider.base_url,
        api_key_env=provider.api_key_env,
        api_key=os.environ.get(provider.api_key_env, "") if provider.api_key_env else "",
    )


def _admin_entries() -> tuple[ModelEntry, ...]:
    rows = list(Model.objects.select_related("provider").prefetch_related("groups"))
    providers = {}
    plain = {}
    for row in rows:
        if row.provider_id not in providers:
            providers[row.provider_id] = provider_entry(row.provider)
        window = row.context_tokens or settings.CHATBOT_CONTEXT_TOKENS
        plain[row.pk] = ModelEntry(
            id=row.pk,
            label=row.label or row.pk,
            provider=providers[row.provider_id],
            upstream=row.upstream_name or row.pk,
            context_tokens=window,
            reply_tokens=reply_tokens_for(
                context_tokens=window, max_reply_tokens=settings.CHATBOT_MAX_REPLY_TOKENS
            ),
            vision=row.vision,
            default=row.is_default,
            enabled=row.enabled,
            groups=frozenset(group.name for group in row.groups.all()),
            price=Price(
                input=row.price_input, cached_input=row.price_cached_input, output=row.price_output
            ),
        )
    return tuple(
        replace(plain[row.pk], fallback=plain[row.fallback_id])
        if row.fallback_id
        else plain[row.pk]
        for row in rows
    )


def _group_names(user, entries: tuple[ModelEntry, ...]) -> frozenset[str]:
    """The user's groups, read only when some model is restricted."""
    if not any(entry.groups for entry in entries):
        return frozenset()
    return frozenset(user.groups.values_list("name", flat=True))


def models_for(user) -> list[ModelEntry]:
    """The enabled models ``user`` may use, the default first."""
    entries = catalogue()
    groups = _group_names(user, entries)
    return [entry for entry in entries if entry.allows(groups)]


def model_for(*, user, model_id: str | None) -> ModelEntry:
    """The model ``user`` asked for (None: their default); unknown, disabled and not allowed
    are the same answer, so a restricted model's existence is not revealed."""
    usable = models_for(user)
    if model_id is None:
        return default_from(usable)
    for entry in usable:
        if entry.id == model_id:
            return entry
    raise InvalidInput(f"Unknown model {model_id!r}.", field="model")


def default_from(usable: list[ModelEntry]) -> ModelEntry:
    """The catalogue's default when usable, else the first model the user may use."""
    if not usable:
        raise InvalidInput("No model is available to you.", field="model")
    return usable[0]


def session_model(*, user, model_id: str) -> ModelEntry:
    """The model a conversation answers with: its own while the user may still use it,
    else the default."""
    usable = models_for(user)
    for entry in usable:
        if entry.id == model_id:
            return entry
    return default_from(usable)
