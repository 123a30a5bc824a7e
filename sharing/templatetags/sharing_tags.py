"""The shared links of Settings, read by the template that lists them."""

from __future__ import annotations

from django import template

from sharing import selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def user_shares(context) -> list:
    """The signed-in user's share links, newest snapshot first."""
    return list(selectors.shares_for_user(context["request"].user))
