"""Model output rendered as Markdown is inert: whatever the model writes, no script runs."""

from __future__ import annotations

import re

import pytest

from conversations.rendering import render_markdown


def test_markdown_renders_headings_lists_tables_and_highlighted_code():
    html = render_markdown(
        "# Title\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "```python\ndef f():\n    return 1\n```\n"
    )
    assert "<h1>Title</h1>" in html
    assert "<li>one</li>" in html
    assert "<table>" in html and "<td>1</td>" in html
    assert '<code class="language-python">' in html
    assert '<span class="k">def</span>' in html


def test_code_in_an_unknown_language_is_escaped_not_highlighted():
    html = render_markdown("```nosuchlang\n<b>x</b>\n```")
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>" not in html


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "<svg onload=alert(1)><circle/></svg>",
        '<a href="javascript:alert(1)">x</a>',
        "<iframe src=https://evil.example></iframe>",
        '<p style="background:url(javascript:alert(1))">x</p>',
        "<scr<script>ipt>alert(1)</script>",
        "<div onclick='alert(1)'>unclosed",
        "```\n</code></pre><script>alert(1)</script>\n```",
    ],
)
def test_raw_html_in_model_output_stays_text(source):
    html = render_markdown(source)
    assert "<script" not in html
    assert "<img" not in html and "<svg" not in html and "<iframe" not in html
    assert "<div" not in html
    for attribute in ("onerror", "onload", "onclick", "style"):
        assert f"{attribute}=" not in strip_escaped(html)


def strip_escaped(html: str) -> str:
    """The markup of ``html`` without the text that was escaped (which is inert)."""
    return re.sub(r"&lt;.*?(&gt;|$)", "", html, flags=re.S)


@pytest.mark.parametrize(
    "link",
    [
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "[x](vbscript:msgbox(1))",
        "<javascript:alert(1)>",
    ],
)
def test_links_with_dangerous_schemes_lose_their_href(link):
    html = render_markdown(link)
    assert "href" not in html


def test_safe_links_open_without_referrer_or_opener():
    html = render_markdown("[docs](https://example.com/a) and [mail](mailto:a@example.com)")
    assert '<a href="https://example.com/a" rel="noopener noreferrer nofollow">docs</a>' in html
    assert 'href="mailto:a@example.com"' in html


def test_images_never_load_from_anywhere():
    html = render_markdown("![tracker](https://evil.example/pixel.png)")
    assert "<img" not in html
    assert 'href="https://evil.example/pixel.png"' in html
