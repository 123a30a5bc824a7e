"""Model output rendered as Markdown is inert: whatever the model writes, no script runs."""

from __future__ import annotations

import re

import pytest

from conversations.rendering import client_policy, render_markdown, sanitize


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


# --- Each rule of the allow-list, one case each -------------------------------------------


@pytest.mark.parametrize(
    ("link", "href"),
    [
        ("[x](tel:+15550100)", None),
        ("[x](ftp://files.example/a.txt)", None),
        ("[x](sms:+15550100)", None),
        ("[x](mailto:a@example.com)", "mailto:a@example.com"),
        ("<mailto:a@example.com>", "mailto:a@example.com"),
        ("[x](http://example.com/)", "http://example.com/"),
        ("[x](HTTPS://example.com/)", "HTTPS://example.com/"),
        ("<https://example.com/auto>", "https://example.com/auto"),
        ("[x](/relative/path)", "/relative/path"),
    ],
)
def test_only_http_https_and_mailto_links_keep_their_href(link, href):
    """markdown-it lets tel:, ftp: and sms: through; the sanitizer's scheme list does not."""
    html = render_markdown(link)
    anchor = re.search(r"<a ([^>]*)>", html).group(1)
    if href is None:
        assert anchor == 'rel="noopener noreferrer nofollow"'
    else:
        assert anchor == f'href="{href}" rel="noopener noreferrer nofollow"'


def test_a_link_keeps_its_title():
    assert render_markdown('[x](https://example.com "The title")') == (
        '<p><a href="https://example.com" title="The title" '
        'rel="noopener noreferrer nofollow">x</a></p>\n'
    )


@pytest.mark.parametrize(
    ("source", "html"),
    [
        ("~~gone~~", "<p><s>gone</s></p>\n"),
        ("## two", "<h2>two</h2>\n"),
        ("### three", "<h3>three</h3>\n"),
        ("#### four", "<h4>four</h4>\n"),
        ("##### five", "<h5>five</h5>\n"),
        ("###### six", "<h6>six</h6>\n"),
        ("> quoted", "<blockquote>\n<p>quoted</p>\n</blockquote>\n"),
        ("3. three\n4. four", '<ol start="3">\n<li>three</li>\n<li>four</li>\n</ol>\n'),
        ("---", "<hr>\n"),
        ("a  \nb", "<p>a<br>\nb</p>\n"),
        (
            "*em* **strong** `code`",
            "<p><em>em</em> <strong>strong</strong> <code>code</code></p>\n",
        ),
        ("<b>bold</b> <!-- note -->", "<p>&lt;b&gt;bold&lt;/b&gt; &lt;!-- note --&gt;</p>\n"),
        ("", ""),
    ],
)
def test_markdown_renders_each_allowed_element(source, html):
    assert render_markdown(source) == html


def test_a_table_keeps_its_head_and_body():
    assert render_markdown("| a |\n|---|\n| 1 |") == (
        "<table>\n<thead>\n<tr>\n<th>a</th>\n</tr>\n</thead>\n"
        "<tbody>\n<tr>\n<td>1</td>\n</tr>\n</tbody>\n</table>\n"
    )


ALLOWED = [
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol", "li",
    "strong", "em", "s", "del", "code", "pre", "span", "a",
]  # fmt: skip


@pytest.mark.parametrize("tag", ALLOWED)
def test_the_sanitizer_keeps_each_allowed_tag(tag):
    void = tag in {"br", "hr"}
    source = f"<{tag}>" if void else f"<{tag}>x</{tag}>"
    assert sanitize(source).startswith(f"<{tag}")


def test_the_sanitizer_keeps_each_table_tag():
    table = "<table><thead><tr><th>h</th></tr></thead><tbody><tr><td>d</td></tr></tbody></table>"
    assert sanitize(table) == table


@pytest.mark.parametrize(
    ("source", "clean"),
    [
        ('<code class="language-py">x</code>', '<code class="language-py">x</code>'),
        ('<span class="k">x</span>', '<span class="k">x</span>'),
        ('<ol start="4"><li>x</li></ol>', '<ol start="4"><li>x</li></ol>'),
        ('<p class="k" id="i">x</p>', "<p>x</p>"),
        ('<a href="https://e.example" target="_top" id="i">x</a>', None),
        ('<ol reversed="">x</ol>', "<ol>x</ol>"),
        ('<span style="color:red" onclick="f()">x</span>', "<span>x</span>"),
        ("<div><b>x</b><img src=x><u>y</u></div>", "xy"),
        ("a<!-- note -->b", "ab"),
    ],
)
def test_the_sanitizer_keeps_only_allowed_attributes_and_drops_comments(source, clean):
    expected = clean or '<a href="https://e.example" rel="noopener noreferrer nofollow">x</a>'
    assert sanitize(source) == expected


def test_code_in_a_language_named_in_capitals_is_highlighted():
    html = render_markdown("```PYTHON\nreturn 1\n```")
    assert '<code class="language-PYTHON"><span class="k">return</span>' in html


def test_code_without_a_language_is_escaped_as_it_is():
    assert (
        render_markdown("```\n<b>x</b>\n```") == "<pre><code>&lt;b&gt;x&lt;/b&gt;\n</code></pre>\n"
    )


def test_the_browsers_streaming_renderer_gets_exactly_the_servers_rules():
    # Written out: the page's DOMPurify must hold a streaming reply to these same rules.
    assert client_policy() == {
        "tags": [
            "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6",
            "hr", "li", "ol", "p", "pre", "s", "span", "strong", "table", "tbody", "td", "th",
            "thead", "tr", "ul",
        ],
        "attributes": {
            "a": ["href", "title"], "code": ["class"], "span": ["class"], "ol": ["start"]
        },
        "schemes": ["http", "https", "mailto"],
        "rel": "noopener noreferrer nofollow",
    }  # fmt: skip
