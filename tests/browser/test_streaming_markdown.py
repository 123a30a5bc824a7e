"""A reply is shown as Markdown while it streams, without flicker, and the server's HTML
replaces it at the end."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from loopback.upstream import Behaviour

pytestmark = pytest.mark.browser

REPLY = (
    "Here is **bold** and `inline code`.\n\n"
    "```python\nfor n in range(3):\n    print(n)\n```\n\n"
    "| name | age |\n|------|-----|\n| Ada | 36 |\n| Alan | 41 |\n\n"
    + " ".join(f"word{n}" for n in range(60))
)

# Sampled on every animation frame while the reply streams: raw Markdown that a renderer
# without care would show for a moment (a table row as a paragraph, a fence as text), and
# whether the frame is already formatted. The page records it, so a slow test process
# cannot miss the streaming frames.
WATCH = """() => {
    window.__frames = [];
    const sample = () => {
        const reply = [...document.querySelectorAll('.message-assistant')].pop();
        if (reply && reply.dataset.status === 'streaming') {
            const body = reply.querySelector('.message-body');
            const paragraphs = [...body.querySelectorAll('p')].map((p) => p.textContent);
            window.__frames.push({
                html: body.innerHTML.length,
                raw: paragraphs.filter((t) => t.trim().startsWith('|') || t.includes('```')
                                       || t.includes('**')),
                formatted: body.querySelector('strong')?.textContent === 'bold'
                    && Boolean(body.querySelector('pre code')?.textContent.includes('print(n)'))
                    && body.querySelector('table td')?.textContent === 'Ada',
                stars: body.textContent.includes('**'),
            });
        }
        if (!reply || reply.dataset.status !== 'complete') requestAnimationFrame(sample);
    };
    requestAnimationFrame(sample);
}"""


def test_a_streaming_reply_is_markdown_without_flicker(logged_in_page, live_app, upstream):
    page = logged_in_page
    page.goto(live_app + "/")
    upstream.push(Behaviour(content=REPLY, token_gap=0.04))
    page.evaluate(WATCH)
    composer = page.locator("#composer-input")
    composer.fill("Show me Markdown")
    composer.press("Enter")
    reply = page.locator(".message-assistant").last
    expect(reply).to_have_attribute("data-status", "streaming")
    # Formatted while the reply is still streaming.
    expect(reply.locator(".message-body strong")).to_have_text("bold")
    expect(reply.locator(".message-body pre code")).to_contain_text("print(n)")
    expect(reply.locator(".message-body table td").first).to_have_text("Ada")

    expect(reply).to_have_attribute("data-status", "complete", timeout=30_000)
    frames = page.evaluate("window.__frames")
    assert len(frames) > 20, "the stream was sampled"
    assert [frame["raw"] for frame in frames if frame["raw"]] == []
    formatted = [frame for frame in frames if frame["formatted"]]
    assert formatted, "bold, code and the table were shown while the reply streamed"
    assert not any(frame["stars"] for frame in formatted)
    # At the end the server's render (highlighted by Pygments) replaces the streamed one.
    expect(reply.locator(".message-body pre code .k").first).to_have_text("for")
    expect(reply.get_by_role("button", name="Copy code")).to_be_visible()
    assert page.js_errors == []
