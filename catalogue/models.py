"""Providers and models managed in Django admin (when no ``CHATBOT_MODELS_FILE`` is set).
API keys are never stored: a provider names the environment variable that holds its key."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth.models import Group
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

ENV_NAME = RegexValidator(r"^[A-Za-z_][A-Za-z0-9_]*$", "An environment variable's name.")


class Provider(models.Model):
    """An OpenAI-compatible server."""

    name = models.CharField(max_length=100, unique=True)
    base_url = models.URLField(
        blank=True, help_text="Empty: OpenAI. E.g. http://127.0.0.1:8080/v1 for a local server."
    )
    api_key_env = models.CharField(
        "API key variable",
        max_length=100,
        blank=True,
        validators=[ENV_NAME],
        help_text="The NAME of the environment variable holding the key (never the key).",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


def price_field(verbose_name: str, *, help_text: str) -> models.DecimalField[Any, Decimal | None]:
    """A price per million tokens (in whatever currency you pay in), or empty for unknown."""
    return models.DecimalField(
        verbose_name,
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text=help_text,
    )


class Model(models.Model):
    """A model users may pick; ``id`` is what clients send."""

    id = models.CharField(
        primary_key=True,
        max_length=100,
        validators=[RegexValidator(r"^\S+$", "No spaces.")],
        help_text="What clients send, e.g. gpt-4o-mini.",
    )
    upstream_name = models.CharField(
        max_length=200, blank=True, help_text="What the provider receives; empty: the id."
    )
    label = models.CharField(max_length=200, blank=True, help_text="Empty: the id.")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="models")
    context_tokens = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(2)],
        help_text="The context window in tokens; empty: CHATBOT_CONTEXT_TOKENS.",
    )
    vision = models.BooleanField("accepts images", default=False)
    is_default = models.BooleanField("default", default=False)
    fallback = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Answers when this model's provider is unavailable.",
    )
    enabled = models.BooleanField(default=True)
    groups = models.ManyToManyField(
        Group, blank=True, related_name="+", help_text="Who may use it; none: everyone."
    )
    price_input = price_field(
        "input price", help_text="Per million prompt tokens not cached; empty: unknown."
    )
    price_cached_input = price_field(
        "cached input price", help_text="Per million cached prompt tokens; empty: unknown."
    )
    price_output = price_field(
        "output price", help_text="Per million completion tokens; empty: unknown."
    )

    class Meta:
        ordering = ["-is_default", "label", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="catalogue_one_default"
            ),
            models.CheckConstraint(
                condition=~Q(fallback=models.F("id")), name="catalogue_fallback_not_self"
            ),
        ]

    def __str__(self) -> str:
        return self.label or self.id
