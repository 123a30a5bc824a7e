"""Titles at their edges: a rename's length limit and refusals, each with its sentence; the
fallback title's word count; a generated title's first line, marks, quotes and cut; and a
generated title written to its own untitled conversation only, with another user's and a
renamed one present."""

from __future__ import annotations

import pytest

from conversations import titles
from conversations.models import ChatSession
from core.errors import InvalidInput
from tests.factories import conversation


@pytest.mark.parametrize(
    ("title", "kept"),
    [("  Trip  ", "Trip"), ("x", "x"), ("é" * 255, "é" * 255), (" " + "a" * 255 + "\n", "a" * 255)],
)
def test_a_title_of_one_to_255_characters_is_kept_stripped(title, kept):
    assert titles.clean_title(title) == kept


@pytest.mark.parametrize(
    ("title", "sentence"),
    [
        (None, "The title must be text."),
        (12, "The title must be text."),
        (["Trip"], "The title must be text."),
        ("", "The title cannot be empty."),
        (" \t\n ", "The title cannot be empty."),
        ("a" * 256, "The title can be at most 255 characters."),
        (" " + "a" * 256 + " ", "The title can be at most 255 characters."),
        ("Trip\x00", "The title contains characters that are not allowed."),
        ("Trip\x1bnotes", "The title contains characters that are not allowed."),
    ],
)
def test_a_refused_title_names_the_field_and_says_why(title, sentence):
    with pytest.raises(InvalidInput) as refused:
        titles.clean_title(title)
    assert refused.value.field == "title"
    assert refused.value.detail == sentence


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("one two three four five six", "one two three four five six"),
        ("one two three four five six seven", "one two three four five six…"),
        ("  spaced\tout\n words  ", "spaced out words"),
        ("", "New chat"),
        (" \n ", "New chat"),
        ("w" * 300, "w" * 255),
        (" ".join(["x" * 50] * 7), (" ".join(["x" * 50] * 6) + "…")[:255]),
    ],
)
def test_the_fallback_title_is_the_first_six_words(text, title):
    assert titles.fallback_title(text) == title


@pytest.mark.parametrize(
    ("raw", "title"),
    [
        ("   \n\t\nSecond line title\nthird", "Second line title"),
        (" \n \n", ""),
        ("Plan for SpaceX.", "Plan for SpaceX"),
        ("Xylophone lessons", "Xylophone lessons"),
        ("“Curly quotes”", "Curly quotes"),
        ("‘Single’ and 'plain'", "Single’ and 'plain"),
        ("Trailing dots...", "Trailing dots"),
        ("+ plus item", "plus item"),
        ("* star item", "star item"),
        ("3) Third step", "Third step"),
        ("~~struck~~ text", "struck text"),
        ("__bold__ words", "bold words"),
        ("a  b   c", "a b c"),
    ],
)
def test_a_generated_title_is_its_first_line_as_plain_text(raw, title):
    assert titles.tidy_generated_title(raw) == title


def test_a_generated_title_of_exactly_the_limit_is_kept_whole():
    exact = "Title " + "w" * (titles.GENERATED_TITLE_MAX_CHARS - 6)
    assert len(exact) == 60
    assert titles.tidy_generated_title(exact) == exact


@pytest.mark.parametrize(
    ("raw", "title"),
    [
        # Cut within the first 59 characters at the last space, then the ellipsis.
        ("a" * 50 + " bbbb ccccc", "a" * 50 + " bbbb…"),
        ("a" * 50 + " bbbbbbb cccc", "a" * 50 + " bbbbbbb…"),
        ("a" * 50 + " bbbbbbbbbbbb", "a" * 50 + "…"),
        # A word ending at the 60th character leaves no room for the ellipsis.
        ("a" * 50 + " bbbbbbbbb cc", "a" * 50 + "…"),
        (
            "Lorem ipsum: the words, cut; at MAX - " + "z" * 30,
            "Lorem ipsum: the words, cut; at MAX…",
        ),
        (
            "Lorem ipsum: the words, cut; at MAX, " + "z" * 30,
            "Lorem ipsum: the words, cut; at MAX…",
        ),
    ],
)
def test_a_long_generated_title_is_cut_at_the_last_word_that_fits(raw, title):
    assert len(raw) > titles.GENERATED_TITLE_MAX_CHARS
    assert titles.tidy_generated_title(raw) == title
    assert len(title) <= titles.GENERATED_TITLE_MAX_CHARS


@pytest.mark.django_db
def test_a_generated_title_goes_to_its_own_untitled_conversation_only(bystanders):
    untitled = conversation(turns=1, title="")
    mine_too = conversation(untitled.user, turns=0, title="")
    renamed = conversation(untitled.user, turns=0, title="Renamed")

    assert titles.is_untitled(session_id=untitled.pk) is True
    assert titles.is_untitled(session_id=renamed.pk) is False
    assert titles.set_generated_title(session_id=untitled.pk, title="Lisbon trip") is True
    assert titles.set_generated_title(session_id=untitled.pk, title="Again") is False
    assert titles.set_generated_title(session_id=renamed.pk, title="Overwrite") is False
    assert titles.is_untitled(session_id=untitled.pk) is False

    assert dict(ChatSession.objects.values_list("pk", "title")) == {
        untitled.pk: "Lisbon trip",
        mine_too.pk: "",
        renamed.pk: "Renamed",
        bystanders.session.pk: "",
    }
    assert titles.is_untitled(session_id=mine_too.pk) is True
    assert bystanders.unchanged()
