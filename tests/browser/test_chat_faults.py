"""The chat page's faults of issue 16, each reproduced in Chromium at 1280 px or a phone's
390 x 844: the phone drawer, settings on a phone, the Copy button, a suspended user's
buttons, focus, the per-conversation menu, user text, delete confirmation, the demo banner
and generated titles."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.services import issue_token
from conversations.models import ChatSession, Message
from loopback.upstream import Behaviour
from tests.browser.conftest import log_in, wait_for_open_drawer
from tests.factories import MessageFactory, conversation

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
LONG_CODE = "x = " + " + ".join(f"value_{n}" for n in range(40)) + "  # END-OF-LINE"


@pytest.fixture
def phone(chromium, live_app, user):
    """A logged-in page in a phone-sized viewport."""
    context = chromium.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    log_in(context, live_app, user)
    page = context.new_page()
    page.js_errors = []
    page.on("pageerror", lambda error: page.js_errors.append(str(error)))
    yield page
    context.close()


def drawer_is_open(page) -> bool:
    return page.evaluate(
        "() => { const r = document.getElementById('sidebar').getBoundingClientRect();"
        " return r.right > 10; }"
    )


def test_phone_drawer_closes_with_escape_and_the_dimmed_area_and_swallows_taps(
    phone, live_app, user
):
    session = conversation(user, turns=1, title="Phone chat")
    page = phone
    page.goto(f"{live_app}/c/{session.pk}/")
    page.locator("#composer-input").fill("do not send me")
    page.get_by_role("button", name="Menu", exact=True).tap()
    expect(page.locator("#sidebar")).to_have_class("sidebar open")
    wait_for_open_drawer(page)
    assert drawer_is_open(page)

    page.keyboard.press("Escape")
    menu = page.get_by_role("button", name="Menu", exact=True)
    expect(page.locator("#sidebar")).not_to_have_class("sidebar open")
    expect(menu).to_have_attribute("aria-expanded", "false")

    page.get_by_role("button", name="Menu", exact=True).tap()
    wait_for_open_drawer(page)
    # A tap on the dimmed area where Send is: it closes the drawer and sends nothing.
    send_box = page.locator("#send-button").bounding_box()
    page.touchscreen.tap(send_box["x"] + send_box["width"] / 2, send_box["y"] + 5)
    expect(page.locator("#sidebar")).not_to_have_class("sidebar open")
    page.wait_for_timeout(300)
    assert Message.objects.filter(session=session).count() == 2
    assert page.locator("#composer-input").input_value() == "do not send me"

    # The drawer has its own close button, reachable while it is open.
    page.get_by_role("button", name="Menu", exact=True).tap()
    wait_for_open_drawer(page)
    page.locator("#sidebar").get_by_role("button", name="Close menu").tap()
    expect(page.locator("#sidebar")).not_to_have_class("sidebar open")
    assert page.js_errors == []


def test_settings_fit_a_phone_with_tokens(phone, live_app, user):
    for _ in range(2):
        issue_token(user=user)
    page = phone
    page.goto(f"{live_app}/settings/")
    expect(page.get_by_role("button", name="Revoke").first).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"settings scroll sideways ({width}px)"
    box = page.get_by_role("button", name="Revoke").first.bounding_box()
    assert box["x"] + box["width"] <= PHONE["width"]


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 800}, PHONE])
def test_the_copy_button_never_covers_the_code(chromium, live_app, user, viewport):
    session = conversation(user, turns=0, title="Code")
    MessageFactory(session=session, content="Show me code")
    MessageFactory(session=session, role="assistant", content=f"```python\n{LONG_CODE}\n```")
    context = chromium.new_context(viewport=viewport)
    try:
        log_in(context, live_app, user)
        page = context.new_page()
        page.goto(f"{live_app}/c/{session.pk}/")
        button = page.get_by_role("button", name="Copy code")
        expect(button).to_be_visible()
        pre = page.locator(".md pre").first
        # At the start and scrolled to the end of the long line, no code lies under Copy.
        for scroll in ("0", "pre.scrollWidth"):
            pre.evaluate(f"pre => {{ pre.scrollLeft = {scroll}; }}")
            overlap = page.evaluate(
                """() => {
                    const b = document.querySelector('.copy-code').getBoundingClientRect();
                    const p = document.querySelector('.md pre').getBoundingClientRect();
                    return !(b.bottom <= p.top || b.top >= p.bottom
                             || b.right <= p.left || b.left >= p.right);
                }"""
            )
            assert not overlap, f"the Copy button lies over the code (scrollLeft={scroll})"
    finally:
        context.close()


def test_a_suspended_user_sees_regenerate_and_retry_disabled(logged_in_page, live_app, user):
    type(user).objects.filter(pk=user.pk).update(chat_suspended=True)
    done = conversation(user, turns=1, title="Done")
    failed = conversation(user, turns=0, title="Failed")
    MessageFactory(session=failed, content="question")
    MessageFactory(session=failed, role="assistant", content="half", status="failed")
    page = logged_in_page
    page.goto(f"{live_app}/c/{done.pk}/")
    expect(page.get_by_role("button", name="Regenerate")).to_be_disabled()
    page.goto(f"{live_app}/c/{failed.pk}/")
    expect(page.get_by_role("button", name="Retry")).to_be_disabled()


def test_opening_a_conversation_focuses_the_composer(logged_in_page, live_app, user):
    session = conversation(user, turns=1, title="Focus")
    page = logged_in_page
    page.goto(f"{live_app}/c/{session.pk}/")
    expect(page.locator("#composer-input")).to_be_focused()


def test_each_conversation_has_one_menu_and_its_title_uses_the_width(
    logged_in_page, live_app, user
):
    title = "A rather long conversation title about sorting"
    session = conversation(user, turns=1, title=title)
    page = logged_in_page
    page.goto(f"{live_app}/c/{session.pk}/")
    item = page.locator(f'.session-item[data-session-id="{session.pk}"]')
    # One tab stop besides the title: the conversation's actions button.
    focusable = item.locator("a[href]:visible, button:visible")
    expect(focusable).to_have_count(2)
    link_width = item.locator(".session-link").evaluate("el => el.clientWidth")
    item_width = item.evaluate("el => el.clientWidth")
    assert link_width >= 0.75 * item_width, (link_width, item_width)
    menu_button = item.get_by_role("button", name=f"Actions for {title}")
    menu_button.click()
    expect(item.get_by_role("menuitem", name="Rename")).to_be_visible()
    page.keyboard.press("Escape")
    expect(item.get_by_role("menuitem", name="Rename")).to_be_hidden()
    expect(menu_button).to_be_focused()


def test_a_user_message_starting_with_a_newline_shows_no_empty_line(logged_in_page, live_app, user):
    session = conversation(user, turns=0, title="Newline")
    MessageFactory(session=session, content="\n\nhello there\n")
    page = logged_in_page
    page.goto(f"{live_app}/c/{session.pk}/")
    body = page.locator(".message-user .message-body")
    assert body.evaluate("el => el.textContent") == "hello there"


def test_deleting_a_conversation_says_it_was_deleted(logged_in_page, live_app, user):
    session = conversation(user, turns=1, title="Doomed")
    page = logged_in_page
    page.goto(f"{live_app}/c/{session.pk}/")
    item = page.locator(f'.session-item[data-session-id="{session.pk}"]')
    item.get_by_role("button", name="Actions for Doomed").click()
    item.get_by_role("menuitem", name="Delete").click()
    page.locator("#delete-dialog").get_by_role("button", name="Delete").click()
    expect(page.locator(".flash")).to_contain_text("“Doomed” was deleted.")
    assert not ChatSession.objects.filter(pk=session.pk).exists()


def test_the_demo_banner_is_small_on_a_phone_and_can_be_dismissed(phone, live_app, settings):
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""
    page = phone
    page.goto(live_app + "/")
    banner = page.locator(".banner-demo")
    expect(banner).to_be_visible()
    assert banner.bounding_box()["height"] <= PHONE["height"] / 10
    banner.get_by_role("button", name="Dismiss").tap()
    expect(banner).to_be_hidden()
    page.reload()
    expect(page.locator("#composer-input")).to_be_visible()
    expect(page.locator(".banner-demo")).to_have_count(0)


def test_a_generated_title_is_plain_text_and_short(logged_in_page, live_app, upstream, user):
    upstream.push(
        Behaviour(content="Sure."),
        Behaviour(
            content="- **Sorting `dicts`** by key in Python: a very long and winding "
            "title that goes on and on about many more things than fit"
        ),
    )
    page = logged_in_page
    page.goto(live_app + "/")
    composer = page.locator("#composer-input")
    composer.fill("How do I sort dicts?")
    composer.press("Enter")
    title = page.locator("#conversation-title")
    expect(title).to_contain_text("Sorting dicts by key")
    text = title.inner_text()
    assert not any(mark in text for mark in ("*", "`", "- ")), text
    assert len(text) <= 60, text
    stored = ChatSession.objects.get(user=user).title
    assert stored == text
