"""Keyboard shortcuts of the chat page, listed in a help dialog, and never taken from a field."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conversations.models import Message
from loopback.upstream import Behaviour
from tests.factories import MessageFactory, conversation

pytestmark = pytest.mark.browser


def test_question_mark_lists_the_shortcuts_but_not_while_typing(logged_in_page, live_app):
    page = logged_in_page
    page.goto(live_app + "/")
    composer = page.locator("#composer-input")
    composer.type("why?")
    assert composer.input_value() == "why?"
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_hidden()
    page.locator("#conversation-title").click()
    page.keyboard.press("?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Copy the last reply")
    expect(dialog).to_contain_text("Edit your last message in place; Esc cancels")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    composer.focus()
    page.keyboard.press("Control+/")
    expect(dialog).to_be_visible()


def test_search_composer_and_new_chat_shortcuts(logged_in_page, live_app, user):
    session = conversation(user, turns=1, title="Old chat")
    page = logged_in_page
    page.goto(f"{live_app}/c/{session.pk}/")
    page.keyboard.press("Control+k")
    expect(page.locator("#search")).to_be_focused()
    page.keyboard.press("Shift+Escape")
    expect(page.locator("#composer-input")).to_be_focused()
    page.keyboard.press("Control+Shift+O")
    page.wait_for_url(live_app + "/")
    expect(page.locator("#conversation-title")).to_have_text("New chat")


def test_escape_stops_a_streaming_reply(logged_in_page, live_app, upstream, user):
    page = logged_in_page
    page.goto(live_app + "/")
    upstream.push(Behaviour(tokens=400, token_gap=0.03))
    composer = page.locator("#composer-input")
    composer.fill("Count")
    composer.press("Enter")
    reply = page.locator(".message-assistant").last
    expect(reply.locator(".message-body")).to_contain_text("tok2")
    page.keyboard.press("Escape")
    expect(reply).to_have_attribute("data-status", "cancelled")
    assert Message.objects.get(session__user=user, role="assistant").status == "cancelled"


def test_arrow_up_opens_the_last_question_in_its_editor_and_escape_cancels(
    live_app, logged_in_page, user, upstream
):
    session = conversation(user, turns=0, title="Edit")
    MessageFactory(session=session, content="first question")
    MessageFactory(session=session, role="assistant", content="an answer")
    last = MessageFactory(session=session, content="second question")
    MessageFactory(session=session, role="assistant", content="The **last** reply")
    page = logged_in_page
    page.goto(f"{live_app}/c/{session.pk}/")
    composer = page.locator("#composer-input")
    expect(composer).to_be_focused()
    bubble = page.locator(f"#m-{last.pk}")
    editor = bubble.get_by_role("textbox", name="Edit your message")

    page.keyboard.press("ArrowUp")
    expect(editor).to_be_focused()
    expect(editor).to_have_value("second question")
    expect(composer).to_have_value("")
    expect(bubble.locator(".message-body")).to_be_hidden()
    expect(page.locator(".message-editor")).to_have_count(1)
    page.keyboard.press("Escape")
    expect(editor).to_have_count(0)
    expect(bubble.locator(".message-body")).to_have_text("second question")
    expect(composer).to_be_focused()

    # Typed text in the composer keeps ↑ for the text itself.
    composer.fill("draft")
    page.keyboard.press("ArrowUp")
    expect(editor).to_have_count(0)
    expect(composer).to_have_value("draft")

    # The editor sends the edit as a new version of the question.
    composer.fill("")
    page.keyboard.press("ArrowUp")
    editor.fill("second question, better")
    editor.press("Enter")
    expect(page.locator(".message-user .message-body").last).to_have_text("second question, better")
    expect(page.locator(".message-assistant").last).to_have_attribute("data-status", "complete")
    assert Message.objects.filter(
        session=session, role="user", content="second question, better", parent=last.parent
    ).exists()


def test_a_shortcut_copies_the_last_reply(live_app, browser_context, logged_in_page, user):
    session = conversation(user, turns=0, title="Copy")
    MessageFactory(session=session, content="a question")
    MessageFactory(session=session, role="assistant", content="The **last** reply")
    browser_context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_app)
    page = logged_in_page
    page.goto(f"{live_app}/c/{session.pk}/")
    expect(page.locator("#composer-input")).to_be_focused()
    page.keyboard.press("Control+Shift+C")
    expect(page.locator("#announcer")).to_have_text("Reply copied.")
    assert page.evaluate("() => navigator.clipboard.readText()") == "The last reply"
