"""The model picker in Chromium: the default first, the choice sent with the message, a
new chat starting with the last model chosen, a conversation showing its own."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conversations.models import ChatSession
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser


def test_the_picker_chooses_the_model_of_a_conversation(
    live_app, browser_context, page, user, providers, upstream, second_upstream
):
    log_in(browser_context, live_app, user)
    page.goto(live_app + "/")
    picker = page.locator("#model-picker")
    expect(picker.locator("option")).to_have_text(["Fast", "Down", "Strong"])
    expect(picker).to_have_value("fast")
    picker.select_option("strong")
    page.locator("#composer-input").fill("Hello")
    page.locator("#composer-input").press("Enter")
    expect(page.locator(".message-assistant").last).to_contain_text("You said: Hello")
    assert second_upstream.reply_requests()[0]["model"] == "strong"
    assert upstream.reply_requests() == []
    session = ChatSession.objects.get()
    assert session.model == "strong"
    # A new chat starts with the last choice; the old conversation still shows its own.
    page.goto(live_app + "/")
    expect(page.locator("#model-picker")).to_have_value("strong")
    page.locator("#model-picker").select_option("fast")
    page.goto(f"{live_app}/c/{session.pk}/")
    expect(page.locator("#model-picker")).to_have_value("strong")
