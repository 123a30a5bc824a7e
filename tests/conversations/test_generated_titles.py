"""A generated title is plain text that fits the sidebar, whatever Markdown the model adds."""

from __future__ import annotations

import pytest

from conversations.titles import GENERATED_TITLE_MAX_CHARS, tidy_generated_title


@pytest.mark.parametrize(
    ("raw", "title"),
    [
        ('"Trip to Lisbon."', "Trip to Lisbon"),
        ("**Sorting `dicts` by key**", "Sorting dicts by key"),
        ("- Packing list", "Packing list"),
        ("1. First steps", "First steps"),
        ("## Heading title", "Heading title"),
        ("> quoted *idea*", "quoted idea"),
        ("my_variable naming", "my_variable naming"),
        ("\n\nTitle on line three\nand more", "Title on line three"),
        ("", ""),
    ],
)
def test_markdown_marks_are_removed(raw, title):
    assert tidy_generated_title(raw) == title


def test_a_long_title_is_cut_at_a_word():
    raw = "Sorting dicts by key in Python: a very long and winding title that goes on and on"
    title = tidy_generated_title(raw)
    assert len(title) <= GENERATED_TITLE_MAX_CHARS
    assert title == "Sorting dicts by key in Python: a very long and winding…"
