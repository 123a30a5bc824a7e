"""Template filters for chat pages."""

from __future__ import annotations

import re

from django import template
from django.utils.safestring import SafeString, mark_safe

from conversations import rendering

register = template.Library()

_BLANK_EDGES = re.compile(r"\A\s*\n|\n\s*\Z")


@register.filter
def markdown(text: str) -> SafeString:
    """A reply's Markdown as sanitized HTML (safe because nh3 has cleaned it)."""
    return mark_safe(rendering.render_markdown(text))


@register.filter
def trim_blank_lines(text: str) -> str:
    """The text without blank lines before or after it: shown with white-space: pre-wrap,
    they would be empty lines in the bubble."""
    return _BLANK_EDGES.sub("", text)
