"""A nesting limit for JSON from clients, checked before it is parsed.

Python's parser recurses once per level, so a small body nested about a thousand levels deep
raises RecursionError instead of a parse error. Every transport that parses client JSON (the
REST API, the WebSocket) checks the depth first, without recursion.
"""

from __future__ import annotations

import re

MAX_DEPTH = 64

# A string (so brackets inside it do not count), or one bracket. Byte and text forms: in UTF-8
# the bytes of '"' and '\' never occur inside a multi-byte character.
_TEXT_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)
_BYTE_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)


class TooDeep(ValueError):
    """JSON nested deeper than the limit (a ValueError, like any other unparsable JSON)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"The JSON is nested too deeply: at most {limit} levels are allowed.")


def check_depth(document: str | bytes, *, limit: int = MAX_DEPTH) -> None:
    """Raise ``TooDeep`` when arrays and objects in ``document`` nest deeper than ``limit``."""
    # Fewer openers than the limit cannot nest past it: most documents stop here.
    if isinstance(document, str):
        if document.count("[") + document.count("{") > limit:
            _walk(_TEXT_TOKENS.findall(document), ("[", "{"), ("]", "}"), limit)
    elif document.count(b"[") + document.count(b"{") > limit:
        _walk(_BYTE_TOKENS.findall(document), (b"[", b"{"), (b"]", b"}"), limit)


def _walk(
    tokens: list[str] | list[bytes],
    opening: tuple[str, str] | tuple[bytes, bytes],
    closing: tuple[str, str] | tuple[bytes, bytes],
    limit: int,
) -> None:
    depth = 0
    for token in tokens:
        if token in opening:
            depth += 1
            if depth > limit:
                raise TooDeep(limit)
        elif token in closing:
            depth -= 1
