"""The chat page when its session or account ends while it is open (Chromium, the app
served over ASGI): it says so and links to sign in, instead of reconnecting forever."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in
from tests.browser.test_catch_up import TRACK_SOCKETS
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.browser

NEW_PASSWORD = "Another-staple-battery-7"


def open_chat(page, live_app: str) -> None:
    page.goto(live_app + "/")
    expect(page.locator("#chat-app")).to_have_attribute("data-connected", "true")


def test_signing_out_in_another_tab_shows_signed_out_with_a_sign_in_link(
    live_app, browser_context, logged_in_page
):
    page = logged_in_page
    open_chat(page, live_app)
    page.fill("#composer-input", "typed before the sign-out")

    other_tab = browser_context.new_page()
    other_tab.goto(live_app + "/accounts/logout/")
    other_tab.click("main form button[type=submit]")
    expect(other_tab).to_have_url(live_app + "/accounts/login/")

    banner = page.locator("#error-banner")
    expect(banner).to_contain_text("You have been signed out.")
    link = banner.get_by_role("link", name="Sign in")
    expect(link).to_have_attribute("href", "/accounts/login/?next=%2F")
    expect(page.locator("#send-button")).to_be_disabled()
    assert page.locator("#composer-input").input_value() == "typed before the sign-out"
    # It stays that way: no reconnecting in a loop.
    page.wait_for_timeout(2500)
    expect(banner).to_contain_text("You have been signed out.")
    expect(page.locator("#chat-app")).to_have_attribute("data-connected", "false")
    link.click()
    expect(page.locator("input[name=login]")).to_be_visible()
    assert page.js_errors == []


def test_changing_the_password_in_another_tab_keeps_this_browsers_chat_connected(
    live_app, browser_context, logged_in_page, user
):
    page = logged_in_page
    page.add_init_script(TRACK_SOCKETS)
    open_chat(page, live_app)

    other_tab = browser_context.new_page()
    other_tab.goto(live_app + "/accounts/password/change/")
    other_tab.fill("input[name=oldpassword]", PASSWORD)
    other_tab.fill("input[name=password1]", NEW_PASSWORD)
    other_tab.fill("input[name=password2]", NEW_PASSWORD)
    other_tab.click("main form button[type=submit]")
    expect(other_tab.locator("body")).to_contain_text("Password successfully changed")

    # The socket was closed (every socket of the user is) and came back on the browser's
    # new session key, without a notice. The page was connected before the change too, so
    # the test waits for the new socket to be open before it looks.
    page.wait_for_function(
        "() => window.__sockets.length > 1 && window.__sockets.at(-1).readyState === WebSocket.OPEN"
    )
    expect(page.locator("#chat-app")).to_have_attribute("data-connected", "true")
    expect(page.locator("#error-banner")).to_be_hidden()
    assert page.js_errors == []


def test_suspension_in_admin_shows_a_notice_and_disables_sending(
    live_app, chromium, logged_in_page, user
):
    page = logged_in_page
    open_chat(page, live_app)

    admin_context = chromium.new_context()
    try:
        log_in(admin_context, live_app, UserFactory(is_staff=True, is_superuser=True))
        admin = admin_context.new_page()
        admin.goto(live_app + "/admin/accounts/user/")
        admin.check(f"input[name=_selected_action][value='{user.pk}']")
        admin.select_option("select[name=action]", "suspend")
        admin.click("button[name=index]")
        expect(admin.locator("body")).to_contain_text("1 user suspended")
    finally:
        admin_context.close()

    expect(page.locator("#error-banner")).to_contain_text("Your chat access has been suspended.")
    page.fill("#composer-input", "hello")
    expect(page.locator("#send-button")).to_be_disabled()
    assert page.js_errors == []
