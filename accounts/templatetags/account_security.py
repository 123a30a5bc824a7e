"""``{% security_overview as security %}`` for the Security part of the Settings page."""

from __future__ import annotations

from django import template

from accounts import selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def security_overview(context) -> dict:
    return selectors.security_overview(context["request"].user)
