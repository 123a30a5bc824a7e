"""Reloading mid-stream, or losing the socket, shows the whole reply so far and then the
rest, in order, with nothing missing or doubled (issue 16, fault 2)."""

from __future__ import annotations

import random

import pytest
from playwright.sync_api import expect

from conversations.models import Message
from loopback.upstream import Behaviour

pytestmark = pytest.mark.browser

TOKENS = 160
FULL = "".join(f"tok{n} " for n in range(TOKENS))

SHOWN = """() => {
    const reply = [...document.querySelectorAll('.message-assistant')].pop();
    if (!reply) return null;
    return {status: reply.dataset.status,
            text: reply.querySelector('.message-body').innerText};
}"""

# Every socket the page opens, so that a test can drop one as a network failure would.
TRACK_SOCKETS = """(() => {
    const Native = window.WebSocket;
    window.__sockets = [];
    window.WebSocket = class extends Native {
        constructor(...args) { super(...args); window.__sockets.push(this); }
    };
})();"""


def words(text: str) -> list[str]:
    return text.split()


def check_shown(page, *, at_least: int = 0) -> int:
    """The reply on screen is a prefix of the full reply (no gap, nothing twice); returns
    how many tokens it shows."""
    shown = page.evaluate(SHOWN)
    assert shown is not None
    tokens = words(shown["text"])
    assert tokens == words(FULL)[: len(tokens)], f"not a prefix of the reply: {tokens[-8:]}"
    assert len(tokens) >= at_least
    return len(tokens)


def watch_until_it_grows(page, before: int) -> int:
    """Check the shown text for a while after a (re)join: always a prefix, and growing
    past what was shown before."""
    shown = before
    for _ in range(40):
        page.wait_for_timeout(50)
        shown = check_shown(page)
        if shown > before + 3 or page.evaluate(SHOWN)["status"] != "streaming":
            break
    assert shown > before, "the reply stopped growing after the tab rejoined"
    return shown


def start_long_reply(page, live_app, upstream) -> None:
    page.goto(live_app + "/")
    upstream.push(Behaviour(tokens=TOKENS, token_gap=0.03))
    composer = page.locator("#composer-input")
    composer.fill("Count for a while")
    composer.press("Enter")
    expect(page.locator(".message-assistant").last).to_have_attribute("data-status", "streaming")


def test_reloads_at_random_points_show_the_whole_reply_so_far(
    logged_in_page, live_app, upstream, user
):
    rng = random.Random()
    seed = rng.randrange(10**6)
    rng.seed(seed)
    page = logged_in_page
    start_long_reply(page, live_app, upstream)
    for _ in range(3):
        page.wait_for_timeout(rng.randint(150, 900))
        if page.evaluate(SHOWN)["status"] != "streaming":
            break
        before = check_shown(page)
        page.reload()
        watch_until_it_grows(page, before)
    reply = page.locator(".message-assistant").last
    expect(reply).to_have_attribute("data-status", "complete", timeout=20000)
    assert words(page.evaluate(SHOWN)["text"]) == words(FULL), f"seed {seed}"
    assert words(Message.objects.get(session__user=user, role="assistant").content) == words(FULL)
    assert page.js_errors == []


def test_a_dropped_socket_catches_up_on_reconnect(logged_in_page, live_app, upstream, user):
    page = logged_in_page
    page.add_init_script(TRACK_SOCKETS)
    start_long_reply(page, live_app, upstream)
    for _ in range(2):
        page.wait_for_timeout(400)
        before = check_shown(page)
        count = page.evaluate("window.__sockets.length")
        page.evaluate("window.__sockets.at(-1).close()")
        page.wait_for_function("n => window.__sockets.length > n", arg=count, timeout=5000)
        watch_until_it_grows(page, before)
    reply = page.locator(".message-assistant").last
    expect(reply).to_have_attribute("data-status", "complete", timeout=20000)
    assert words(page.evaluate(SHOWN)["text"]) == words(FULL)
    assert page.js_errors == []
