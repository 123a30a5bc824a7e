"""A conversation's title: the user's rename rules, and the generated title a new
conversation gets after its first reply (never over a rename)."""

from __future__ import annotations

import re

from conversations.models import ChatSession
from conversations.validation import has_bad_characters
from core.errors import InvalidInput

TITLE_MAX_CHARS = 255
FALLBACK_TITLE_WORDS = 6
GENERATED_TITLE_MAX_CHARS = 60
# A list marker, heading or quote before the title, and inline emphasis or code marks.
_TITLE_LEAD = re.compile(r"^\s*(?:[-*+>#]+|\d+[.)])\s+")
_TITLE_MARKUP = re.compile(r"\*\*|__|[*`~]+(?=\w)|(?<=\w)[*`~]+")


def clean_title(title) -> str:
    """A session title of 1 to 255 characters, or ``InvalidInput``."""
    if not isinstance(title, str):
        raise InvalidInput("The title must be text.", field="title")
    title = title.strip()
    if not title:
        raise InvalidInput("The title cannot be empty.", field="title")
    if len(title) > TITLE_MAX_CHARS:
        raise InvalidInput(f"The title can be at most {TITLE_MAX_CHARS} characters.", field="title")
    if has_bad_characters(title):
        raise InvalidInput("The title contains characters that are not allowed.", field="title")
    return title


def fallback_title(text: str) -> str:
    """The first words of the first message: the title when the model gives none."""
    words = text.split()
    title = " ".join(words[:FALLBACK_TITLE_WORDS])
    if len(words) > FALLBACK_TITLE_WORDS:
        title += "…"
    return title[:TITLE_MAX_CHARS] or "New chat"


def tidy_generated_title(raw: str) -> str:
    """The model's title as plain text: its first line without Markdown marks, quotes or a
    final period, cut at a word to fit the sidebar."""
    line = next((line for line in raw.splitlines() if line.strip()), "")
    line = _TITLE_MARKUP.sub("", _TITLE_LEAD.sub("", line))
    title = " ".join(line.split()).strip("\"'“”‘’ ").rstrip(".").strip()
    if len(title) > GENERATED_TITLE_MAX_CHARS:
        cut = title[: GENERATED_TITLE_MAX_CHARS - 1].rsplit(" ", 1)[0]
        title = cut.rstrip(" ,;:-–—") + "…"
    return title


def is_untitled(*, session_id) -> bool:
    return ChatSession.objects.filter(pk=session_id, title="").exists()


def set_generated_title(*, session_id, title: str) -> bool:
    """Give an untitled session its generated title; never overwrite a rename."""
    return bool(ChatSession.objects.filter(pk=session_id, title="").update(title=title))
