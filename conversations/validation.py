"""Character rules shared by every text a user stores (messages, titles)."""

from __future__ import annotations

import unicodedata


def has_bad_characters(text: str) -> bool:
    """True for characters no chat text may hold.

    NUL is rejected by PostgreSQL; lone surrogates cannot be stored as UTF-8. Other control
    characters except tab and newlines have no place in a chat message.
    """
    for char in text:
        if char in "\t\n\r":
            continue
        category = unicodedata.category(char)
        if category == "Cc" or category == "Cs":
            return True
    return False
