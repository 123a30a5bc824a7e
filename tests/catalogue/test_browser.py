"""The model picker in Chromium: the default first, the choice sent with the message, a
new chat starting with the last model chosen, a conversation showing its own."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conversations.models import ChatSession
from tests.browser.conftest import log_in
from tests.browser.test_accessibility import audit

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


def test_the_model_that_answered_is_named_on_each_reply_and_in_the_header(
    live_app, browser_context, page, user, providers, upstream, second_upstream, artifacts_dir
):
    log_in(browser_context, live_app, user)
    page.goto(live_app + "/")
    header = page.locator("#conversation-model")
    expect(header).to_be_hidden()
    replies = page.locator(".message-assistant")

    def send(text: str, count: int) -> None:
        page.locator("#composer-input").fill(text)
        page.locator("#composer-input").press("Enter")
        expect(replies).to_have_count(count)
        expect(replies.last).to_have_attribute("data-status", "complete")

    send("Hello", 1)
    expect(header).to_have_text("Model: Fast")
    expect(replies.last.locator(".reply-model")).to_have_text("Answered by Fast")
    page.locator("#model-picker").select_option("strong")
    send("Again", 2)
    expect(header).to_have_text("Model: Strong")
    expect(replies.locator(".reply-model")).to_have_text(["Answered by Fast", "Answered by Strong"])
    # ``down`` cannot be reached: ``strong`` answers, and the reply says so.
    page.locator("#model-picker").select_option("down")
    send("Once more", 3)
    expect(header).to_have_text("Model: Down")
    expect(replies.last.locator(".reply-model")).to_have_text("Answered by Strong")
    session = ChatSession.objects.get()
    assert session.model == "down"
    assert list(
        session.messages.filter(role="assistant")
        .order_by("sequence")
        .values_list("model", flat=True)
    ) == ["fast", "strong", "strong"]
    # The page as the server renders it says the same.
    page.reload()
    expect(page.locator("#conversation-model")).to_have_text("Model: Down")
    expect(page.locator(".message-assistant .reply-model")).to_have_text(
        ["Answered by Fast", "Answered by Strong", "Answered by Strong"]
    )
    screens = artifacts_dir / "screens"
    screens.mkdir(parents=True, exist_ok=True)
    audit(page, screens, "chat-model-labels")
