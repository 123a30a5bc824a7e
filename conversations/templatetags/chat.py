"""Template filters for chat pages."""

from __future__ import annotations

import re

from django import template
from django.utils.safestring import SafeString, mark_safe

from conversations import payloads, rendering

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


@register.filter
def branch_position(message) -> dict | None:
    """Where a message stands among its siblings (``selectors.with_sibling_ids``), for its
    "‹ 2 / 3 ›" switcher; None when it has none (or they were not read)."""
    sibling_ids = getattr(message, "sibling_ids", None) or []
    if len(sibling_ids) < 2:
        return None
    index = sibling_ids.index(str(message.id))
    return {
        "index": index + 1,
        "total": len(sibling_ids),
        "previous": sibling_ids[index - 1] if index > 0 else "",
        "next": sibling_ids[index + 1] if index + 1 < len(sibling_ids) else "",
    }


@register.simple_tag
def search_snippet(session, query: str) -> SafeString:
    """A search result's excerpt (``selectors.with_search_excerpt``) with the matches in
    ``<mark>``; empty when only its title matched or for a list without a search (a tag,
    not a filter: an item rendered without ``query`` is no error). Safe: ``payloads``
    escapes the text."""
    excerpt = getattr(session, "search_excerpt", None)
    if not excerpt or not query:
        return mark_safe("")
    return mark_safe(payloads.search_snippet(text=excerpt, query=query))


@register.filter
def highlight(text: str, query: str) -> SafeString:
    """``text`` escaped, with the matches of a search in ``<mark>``."""
    return mark_safe(payloads.search_snippet(text=text, query=query))


@register.simple_tag(takes_context=True)
def model_label(context, model_id: str) -> str:
    """A model's label from the page's ``model_labels`` (the chat view's), else its id: a
    bubble rendered elsewhere (a WebSocket event) reads no catalogue, the script labels it."""
    return context.get("model_labels", {}).get(model_id, model_id)
