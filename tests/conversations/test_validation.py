"""The character rule of every stored text: control characters and lone surrogates are
refused, tab and newlines and every other character kept."""

from __future__ import annotations

import pytest

from conversations.validation import has_bad_characters

REFUSED = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x0e", "\x1b", "\x1f", "\x7f", "\x80", "\x9f"]


@pytest.mark.parametrize("char", REFUSED, ids=[f"U+{ord(c):04X}" for c in REFUSED])
def test_a_control_character_anywhere_is_refused(char):
    assert has_bad_characters(char)
    assert has_bad_characters(f"text {char}")
    assert has_bad_characters(f"{char} text")


@pytest.mark.parametrize("text", ["\ud800", "a\udfffb"], ids=["high", "low"])
def test_a_lone_surrogate_is_refused(text):
    assert has_bad_characters(text)


@pytest.mark.parametrize("allowed", ["\t", "\n", "\r"], ids=["tab", "newline", "return"])
def test_tab_and_newlines_are_kept_and_do_not_hide_what_follows(allowed):
    assert not has_bad_characters(allowed * 3)
    assert not has_bad_characters(f"one{allowed}two")
    assert has_bad_characters(f"{allowed}\x00")
    assert has_bad_characters(f"{allowed}\ud800")


@pytest.mark.parametrize(
    "text",
    ["", "plain text", "é 漢字 🙂", "zero\u200bwidth", "line\u2028separator", "\xa0\u3000", "XX"],
    ids=["empty", "ascii", "non-latin", "format char", "line separator", "spaces", "letters"],
)
def test_every_other_character_is_kept(text):
    assert not has_bad_characters(text)
