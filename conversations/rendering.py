"""Model output as safe HTML: Markdown rendered on the server, highlighted, then sanitized.

Replies are untrusted text. markdown-it escapes raw HTML, and nh3 (an allow-list sanitizer)
then removes anything the renderer could still be tricked into producing: scripts, event
handlers, style attributes, links other than http(s)/mailto, and images (an image from
another host would leak the reader's address, so they render as links instead).
"""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

ALLOWED_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol", "li",
    "strong", "em", "s", "del", "code", "pre", "span", "a",
    "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "code": {"class"},
    "span": {"class"},
    "ol": {"start"},
}
URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "noopener noreferrer nofollow"

_formatter = HtmlFormatter(nowrap=True)


def _highlight(code: str, language: str, _attrs: str) -> str:
    """Pygments spans for a fenced block with a known language; '' lets markdown-it escape."""
    if not language:
        return ""
    try:
        lexer = get_lexer_by_name(language.strip().lower())
    except ClassNotFound:
        return ""
    return highlight(code, lexer, _formatter)


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    return (
        MarkdownIt("commonmark", {"html": False, "highlight": _highlight})
        .enable(["table", "strikethrough"])
        .disable("image")
    )


def sanitize(html: str) -> str:
    """Keep only the allow-listed tags and attributes, and safe links."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel=LINK_REL,
        strip_comments=True,
    )


def client_policy() -> dict:
    """The allow-lists above for the browser's streaming renderer (static/js/chat.js), so
    the text shown while a reply streams is held to exactly the rules of the final render."""
    return {
        "tags": sorted(ALLOWED_TAGS),
        "attributes": {tag: sorted(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        "schemes": sorted(URL_SCHEMES),
        "rel": LINK_REL,
    }


def render_markdown(text: str) -> str:
    """Sanitized HTML for a reply's Markdown."""
    if not text:
        return ""
    return sanitize(_markdown().render(text))
