"""The chat pages' template filters and tags (issue 23), each by a case: Markdown as the
sanitizer renders it, blank edges trimmed and nothing else, the branch switcher's position
at each end, search marks escaped, and a model's label or its id."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.template import Context, Template
from django.utils.safestring import SafeString

from conversations import rendering
from conversations.templatetags import chat


def test_markdown_is_the_sanitized_html_marked_safe():
    html = chat.markdown("**bold** <script>alert(1)</script>")

    assert isinstance(html, SafeString)
    assert html == rendering.render_markdown("**bold** <script>alert(1)</script>")
    assert "<strong>bold</strong>" in html and "<script>" not in html


@pytest.mark.parametrize(
    ("text", "trimmed"),
    [
        ("\n  \n  indented\n\n  kept\n \n", "  indented\n\n  kept"),
        ("\nfirst", "first"),
        ("last\n", "last"),
        ("  spaces only at the edges  ", "  spaces only at the edges  "),
        ("a\n\nb", "a\n\nb"),
        ("", ""),
    ],
)
def test_blank_lines_before_and_after_are_trimmed(text, trimmed):
    assert chat.trim_blank_lines(text) == trimmed


def message(pk: str, siblings: list[str] | None) -> SimpleNamespace:
    return SimpleNamespace(id=pk, sibling_ids=siblings)


def test_a_message_without_siblings_has_no_switcher():
    assert chat.branch_position(SimpleNamespace(id="a")) is None
    assert chat.branch_position(message("a", None)) is None
    assert chat.branch_position(message("a", [])) is None
    assert chat.branch_position(message("a", ["a"])) is None


def test_the_switcher_position_at_either_end_and_between():
    ids = ["a", "b", "c"]

    assert chat.branch_position(message("a", ids)) == {
        "index": 1,
        "total": 3,
        "previous": "",
        "next": "b",
    }
    assert chat.branch_position(message("b", ids)) == {
        "index": 2,
        "total": 3,
        "previous": "a",
        "next": "c",
    }
    assert chat.branch_position(message("c", ids)) == {
        "index": 3,
        "total": 3,
        "previous": "b",
        "next": "",
    }
    assert chat.branch_position(message("b", ["a", "b"])) == {
        "index": 2,
        "total": 2,
        "previous": "a",
        "next": "",
    }


def test_a_search_snippet_only_for_an_excerpt_and_a_query():
    found = SimpleNamespace(search_excerpt="Tom & <Jerry> tom")

    assert (
        chat.search_snippet(found, "tom") == "<mark>Tom</mark> &amp; &lt;Jerry&gt; <mark>tom</mark>"
    )
    assert isinstance(chat.search_snippet(found, "tom"), SafeString)
    assert chat.search_snippet(found, "") == ""
    assert chat.search_snippet(SimpleNamespace(search_excerpt=""), "tom") == ""
    assert chat.search_snippet(SimpleNamespace(), "tom") == ""


def test_highlight_escapes_the_text_and_marks_the_query():
    marked = chat.highlight("<i>Trip</i> plans", "trip")

    assert marked == "&lt;i&gt;<mark>Trip</mark>&lt;/i&gt; plans"
    assert isinstance(marked, SafeString)


def test_a_model_shows_its_label_from_the_page_else_its_id():
    template = Template("{% load chat %}{% model_label model %}")
    labels = {"gpt-x": "GPT X"}

    assert template.render(Context({"model_labels": labels, "model": "gpt-x"})) == "GPT X"
    assert template.render(Context({"model_labels": labels, "model": "other"})) == "other"
    assert template.render(Context({"model": "gpt-x"})) == "gpt-x"
