"""The model picker's data for templates: the models the signed-in user may use."""

from __future__ import annotations

from django import template

from catalogue import selectors

register = template.Library()


@register.simple_tag
def chat_models(user) -> list:
    """The user's models, the default first (one read of the catalogue per page)."""
    return selectors.models_for(user)
