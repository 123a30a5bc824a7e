"""The chat in a real Chromium against the app served over ASGI, with the loopback model."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from conversations import services
from conversations.models import ChatSession, Message
from loopback.upstream import Behaviour
from tests.browser.conftest import log_in, wait_until
from tests.factories import PASSWORD, MessageFactory, UserFactory, conversation

pytestmark = pytest.mark.browser

HOSTILE = "<img src=x onerror=alert(1)> <script>alert(1)</script> [click](javascript:alert(1))"


def send(page, text: str) -> None:
    composer = page.locator("#composer-input")
    composer.fill(text)
    composer.press("Enter")


def last_reply(page):
    return page.locator(".message-assistant").last


# One frame of the page, checked as a whole: the last reply still streams and shows ``text``,
# and Stop has taken Send's place. Separate reads could each see a different moment.
STREAMING_WITH = """(text) => {
    const reply = [...document.querySelectorAll('.message-assistant')].pop();
    return reply?.dataset.status === 'streaming'
        && reply.querySelector('.message-body').textContent.includes(text)
        && document.getElementById('stop-button').checkVisibility()
        && !document.getElementById('send-button').checkVisibility();
}"""


def test_sign_up_and_hold_a_streamed_conversation(live_app, page, upstream):
    page.goto(live_app + "/accounts/signup/")
    page.fill("input[name=email]", "ada@example.com")
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("form button[type=submit]")
    expect(page.locator("#composer-input")).to_be_visible()
    expect(page.locator("#send-button")).to_be_disabled()

    upstream.push(Behaviour(tokens=60, token_gap=0.1))
    composer = page.locator("#composer-input")
    composer.fill("first line")
    composer.press("Shift+Enter")
    composer.type("second line")
    assert composer.input_value() == "first line\nsecond line"
    composer.press("Enter")

    reply = last_reply(page)
    # Partial text is visible while the reply is still streaming, and Stop replaces Send.
    expect(reply).to_have_attribute("data-status", "streaming")
    page.wait_for_function(STREAMING_WITH, arg="tok3")

    expect(reply).to_have_attribute("data-status", "complete", timeout=30_000)
    expect(reply.locator(".message-body")).to_contain_text("tok59")
    expect(page.locator(".message-user .message-body").last).to_have_text("first line\nsecond line")
    assert re.search(r"/c/[0-9a-f-]{36}/$", page.url)
    # The generated title (the first line of the model's answer) arrives live in the
    # sidebar and the heading.
    expect(page.locator("#conversation-title")).to_have_text("You said: first line")
    expect(page.locator(".session-link").first).to_have_text("You said: first line")

    page.reload()
    expect(page.locator(".message-user .message-body")).to_have_text(["first line\nsecond line"])
    expect(last_reply(page).locator(".message-body")).to_contain_text("tok0 tok1")
    assert page.js_errors == [] and page.dialogs == []


def test_stop_keeps_the_partial_reply(logged_in_page, live_app, upstream, user):
    page = logged_in_page
    page.goto(live_app + "/")
    upstream.push(Behaviour(tokens=400, token_gap=0.03))
    send(page, "Count to four hundred")
    reply = last_reply(page)
    expect(reply.locator(".message-body")).to_contain_text("tok2")
    page.click("#stop-button")
    expect(reply).to_have_attribute("data-status", "cancelled")
    expect(reply.locator(".message-note")).to_have_text("Stopped.")
    expect(page.locator("#send-button")).to_be_visible()
    stored = Message.objects.get(session__user=user, role="assistant")
    assert stored.status == "cancelled"
    assert stored.content.startswith("tok0 tok1 tok2") and "tok399" not in stored.content
    assert page.js_errors == []


def test_regenerate_shows_the_new_reply_and_keeps_the_old_one(
    logged_in_page, live_app, upstream, user
):
    session = conversation(user, turns=1, title="Regenerate me")
    page = logged_in_page
    page.goto(f"{live_app}/c/{session.pk}/")
    expect(last_reply(page)).to_contain_text("answer 0")
    upstream.push(Behaviour(content="A *fresh* answer"))
    last_reply(page).get_by_role("button", name="Regenerate").click()
    expect(last_reply(page).locator("em")).to_have_text("fresh")
    expect(page.locator(".message-assistant")).to_have_count(1)
    # The text shows while the reply streams; the rows are final once it is complete.
    expect(last_reply(page)).to_have_attribute("data-status", "complete")
    # The old answer is kept as a sibling on its own branch; the page shows the new one.
    # (This test's connection may see the reply's final row a moment after the page does.)
    wait_until(
        session.messages.filter(content="A *fresh* answer", status="complete").exists,
        what="the new reply's final row",
    )
    assert list(session.messages.values_list("content", flat=True)) == [
        "question 0",
        "answer 0",
        "A *fresh* answer",
    ]
    session.refresh_from_db()
    assert session.current_message.content == "A *fresh* answer"
    page.reload()
    expect(page.locator(".message-assistant .message-body")).to_have_text(["A fresh answer"])


def test_rename_and_delete_from_the_sidebar(logged_in_page, live_app, user):
    keep = conversation(user, turns=1, title="Keep me")
    doomed = conversation(user, turns=1, title="Delete me")
    page = logged_in_page
    page.goto(f"{live_app}/c/{keep.pk}/")

    item = page.locator(f'.session-item[data-session-id="{keep.pk}"]')
    item.get_by_role("button", name="Actions for Keep me").click()
    item.get_by_role("menuitem", name="Rename").click()
    dialog = page.locator("#rename-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Title").fill("Renamed chat")
    dialog.get_by_role("button", name="Save").click()
    expect(page.locator("#conversation-title")).to_have_text("Renamed chat")
    keep.refresh_from_db()
    assert keep.title == "Renamed chat"

    doomed_item = page.locator(f'.session-item[data-session-id="{doomed.pk}"]')
    doomed_item.get_by_role("button", name="Actions for Delete me").click()
    doomed_item.get_by_role("menuitem", name="Delete").click()
    confirm = page.locator("#delete-dialog")
    expect(confirm).to_contain_text("Delete me")
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_be_hidden()
    assert ChatSession.objects.filter(pk=doomed.pk).exists()

    doomed_item.get_by_role("button", name="Actions for Delete me").click()
    doomed_item.get_by_role("menuitem", name="Delete").click()
    confirm.get_by_role("button", name="Delete").click()
    expect(page.locator(f'.session-item[data-session-id="{doomed.pk}"]')).to_have_count(0)
    assert not ChatSession.objects.filter(pk=doomed.pk).exists()
    assert page.dialogs == [] and page.js_errors == []


def test_a_second_user_sees_nothing_of_the_first(live_app, chromium, page, user):
    secret = conversation(user, turns=1, title="Secret plans")
    log_in(page.context, live_app, user)
    page.goto(live_app + "/")
    expect(page.locator(".session-link")).to_have_text(["Secret plans"])

    other_context = chromium.new_context()
    try:
        other = other_context.new_page()
        log_in(other_context, live_app, UserFactory())
        other.goto(live_app + "/")
        expect(other.locator(".session-item")).to_have_count(0)
        assert "Secret plans" not in other.content()
        response = other.goto(f"{live_app}/c/{secret.pk}/")
        assert response.status == 404
        assert "question 0" not in other.content()
    finally:
        other_context.close()


def test_a_hostile_reply_runs_nothing(logged_in_page, live_app, upstream, user):
    page = logged_in_page
    page.goto(live_app + "/")
    upstream.push(Behaviour(content=HOSTILE, token_gap=0.01))
    send(page, "Say something nasty")
    reply = last_reply(page)
    expect(reply).to_have_attribute("data-status", "complete")
    expect(reply.locator(".message-body")).to_contain_text("<script>alert(1)</script>")

    def assert_inert() -> None:
        messages = page.locator("#messages .message-body")
        assert messages.locator("img, script, svg, iframe").count() == 0
        assert messages.locator("[onerror], [onload], [onclick], [style]").count() == 0
        assert messages.locator('a[href^="javascript"]').count() == 0
        assert page.dialogs == [] and page.js_errors == []

    assert_inert()
    page.reload()
    expect(last_reply(page).locator(".message-body")).to_contain_text("[click]")
    page.wait_for_timeout(300)
    assert_inert()


def test_older_messages_load_on_scroll_up(logged_in_page, live_app, user):
    session = conversation(user, turns=0, title="Long")
    services.store_as_branch(
        session=session,
        messages=[
            Message(session=session, sequence=n, role="user", content=f"line {n}")
            for n in range(1, 81)
        ],
    )
    page = logged_in_page
    page.goto(f"{live_app}/c/{session.pk}/")
    expect(page.locator(".message")).to_have_count(50)
    page.locator("#scroller").evaluate("element => { element.scrollTop = 0; }")
    expect(page.locator(".message")).to_have_count(80)
    expect(page.locator(".message .message-body").first).to_have_text("line 1")
    expect(page.locator("#load-older")).to_have_count(0)


def test_screenshots_desktop_and_phone_light_and_dark(
    live_app, browser_context, page, user, artifacts_dir, chromium
):
    session = conversation(user, turns=1, title="Sorting in Python")
    MessageFactory(session=session, content="How do I sort a list of dicts by a key?")
    MessageFactory(
        session=session,
        role="assistant",
        content=(
            "Use `sorted` with a **key** function:\n\n```python\n"
            "people = [{'name': 'Ada', 'age': 36}, {'name': 'Alan', 'age': 41}]\n"
            "by_age = sorted(people, key=lambda p: p['age'])\n```\n\n"
            "| name | age |\n|---|---|\n| Ada | 36 |\n| Alan | 41 |\n"
        ),
    )
    conversation(user, turns=1, title="Trip to Lisbon")
    shots = []
    for label, viewport in (("desktop", (1280, 800)), ("phone", (375, 740))):
        for scheme in ("light", "dark"):
            context = chromium.new_context(
                viewport={"width": viewport[0], "height": viewport[1]}, color_scheme=scheme
            )
            try:
                shot_page = context.new_page()
                errors = []
                shot_page.on("pageerror", lambda error, errors=errors: errors.append(str(error)))
                log_in(context, live_app, user)
                shot_page.goto(f"{live_app}/c/{session.pk}/")
                expect(shot_page.locator(".copy-code")).to_have_count(1)
                expect(shot_page.locator(".md table")).to_be_visible()
                width = shot_page.evaluate("document.documentElement.scrollWidth")
                assert width <= viewport[0], f"{label} page scrolls sideways ({width}px)"
                path = artifacts_dir / f"chat-{label}-{scheme}.png"
                shot_page.screenshot(path=str(path))
                shots.append(path)
                assert errors == []
            finally:
                context.close()
    assert all(path.stat().st_size > 5000 for path in shots)
