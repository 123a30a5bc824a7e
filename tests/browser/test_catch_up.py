"""Reloading mid-stream, or losing the socket, shows the whole reply so far and then the
rest, in order, with nothing missing or doubled (issue 16, fault 2)."""

from __future__ import annotations

import random
import time

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


def check_shown(page) -> tuple[int, str]:
    """The reply on screen is a prefix of the full reply (no gap, nothing twice); returns
    how many tokens it shows and its status, read together."""
    shown = page.evaluate(SHOWN)
    assert shown is not None
    tokens = words(shown["text"])
    assert tokens == words(FULL)[: len(tokens)], f"not a prefix of the reply: {tokens[-8:]}"
    return len(tokens), shown["status"]


def watch_until_it_grows(page, before: int) -> int:
    """Check the shown text after a (re)join, every 50 ms for up to 30 s: always a prefix,
    and growing past what was shown before (or, if the reply ended meanwhile, whole)."""
    deadline = time.monotonic() + 30
    while True:
        page.wait_for_timeout(50)
        shown, status = check_shown(page)
        if shown > before + 3 or status != "streaming" or time.monotonic() > deadline:
            break
    assert shown > before or (status == "complete" and shown == TOKENS), (
        "the reply stopped growing after the tab rejoined"
    )
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
        before, status = check_shown(page)
        if status != "streaming":
            break
        page.reload()
        watch_until_it_grows(page, before)
    reply = page.locator(".message-assistant").last
    expect(reply).to_have_attribute("data-status", "complete", timeout=30_000)
    assert words(page.evaluate(SHOWN)["text"]) == words(FULL), f"seed {seed}"
    assert words(Message.objects.get(session__user=user, role="assistant").content) == words(FULL)
    assert page.js_errors == []


def test_a_dropped_socket_catches_up_on_reconnect(logged_in_page, live_app, upstream, user):
    page = logged_in_page
    page.add_init_script(TRACK_SOCKETS)
    start_long_reply(page, live_app, upstream)
    drops = 0
    for _ in range(2):
        page.wait_for_timeout(400)
        before, status = check_shown(page)
        # A loaded machine may have let the reply end: a drop now would test nothing.
        if status != "streaming":
            break
        count = page.evaluate("window.__sockets.length")
        page.evaluate("window.__sockets.at(-1).close()")
        drops += 1
        page.wait_for_function("n => window.__sockets.length > n", arg=count)
        watch_until_it_grows(page, before)
    assert drops, "the socket was never dropped while the reply streamed"
    reply = page.locator(".message-assistant").last
    expect(reply).to_have_attribute("data-status", "complete", timeout=30_000)
    assert words(page.evaluate(SHOWN)["text"]) == words(FULL)
    assert page.js_errors == []
