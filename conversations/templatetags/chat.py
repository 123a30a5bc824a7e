"""Template filters for chat pages."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from conversations import rendering

register = template.Library()


@register.filter
def markdown(text: str) -> SafeString:
    """A reply's Markdown as sanitized HTML (safe because nh3 has cleaned it)."""
    return mark_safe(rendering.render_markdown(text))
