"""The conversation's instructions dialog in Chromium: saved through the API and sent with
the next reply's system prompt, the server's refusal shown inline with the text kept,
Escape and focus, nothing of another user's conversation within reach, and no axe finding."""

from __future__ import annotations

import pytest
from django.test import Client
from playwright.sync_api import expect

from conversations.models import ChatSession
from tests.browser.conftest import log_in
from tests.browser.test_accessibility import WIDTHS, audit
from tests.factories import UserFactory, conversation

pytestmark = pytest.mark.browser

INSTRUCTIONS = "Answer in French, in one sentence."


def open_dialog(page):
    page.get_by_role("button", name="Instructions", exact=True).click()
    dialog = page.get_by_role("dialog", name="Instructions for this conversation")
    expect(dialog).to_be_visible()
    return dialog


def test_saved_instructions_reach_the_next_reply(live_app, browser_context, page, user, upstream):
    session = conversation(user, turns=1, title="Paris")
    log_in(browser_context, live_app, user)
    page.goto(f"{live_app}/c/{session.pk}/")
    dialog = open_dialog(page)
    field = dialog.get_by_role("textbox", name="Instructions")
    expect(field).to_be_focused()
    expect(field).to_have_value("")
    field.fill(INSTRUCTIONS)
    expect(dialog.locator("#instructions-count")).to_have_text(
        f"{len(INSTRUCTIONS)} of 4,000 characters"
    )
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name="Instructions", exact=True)).to_be_focused()
    expect(page.locator("#announcer")).to_contain_text("Instructions saved.")
    session.refresh_from_db()
    assert session.instructions == INSTRUCTIONS

    composer = page.locator("#composer-input")
    composer.fill("Where is the Louvre?")
    composer.press("Enter")
    expect(page.locator(".message-assistant")).to_have_count(2)
    expect(page.locator(".message-assistant").last).to_have_attribute("data-status", "complete")
    system = upstream.reply_requests()[-1]["messages"][0]
    assert system["role"] == "system"
    assert f"Instructions for this conversation:\n{INSTRUCTIONS}" in system["content"]
    # The dialog opens again with what is saved.
    expect(open_dialog(page).get_by_role("textbox", name="Instructions")).to_have_value(
        INSTRUCTIONS
    )


def test_too_long_instructions_show_the_servers_error_and_keep_the_text(
    live_app, browser_context, page, user, upstream
):
    session = conversation(user, turns=1, instructions="Be brief.")
    too_long = "x" * 4001
    client = Client()
    client.force_login(user)
    refusal = client.patch(
        f"/api/chat/sessions/{session.pk}",
        {"instructions": too_long},
        content_type="application/json",
    )
    assert refusal.status_code == 400
    log_in(browser_context, live_app, user)
    page.goto(f"{live_app}/c/{session.pk}/")
    dialog = open_dialog(page)
    field = dialog.get_by_role("textbox", name="Instructions")
    field.fill(too_long)
    expect(dialog.locator("#instructions-count")).to_have_class("char-count muted over-limit")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.locator("#instructions-error")).to_have_text(refusal.json()["detail"])
    expect(dialog).to_be_visible()
    expect(field).to_have_value(too_long)
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_be_focused()
    session.refresh_from_db()
    assert session.instructions == "Be brief."

    # Escape closes without saving; the focus is back on the button, and the dialog opens
    # again with what is saved, without the error.
    field.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name="Instructions", exact=True)).to_be_focused()
    dialog = open_dialog(page)
    expect(dialog.get_by_role("textbox", name="Instructions")).to_have_value("Be brief.")
    expect(dialog.locator("#instructions-error")).to_be_hidden()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name="Instructions", exact=True)).to_be_focused()


def test_another_users_conversation_is_out_of_reach(
    live_app, browser_context, page, user, upstream
):
    theirs = conversation(UserFactory(), turns=1, instructions="Theirs.")
    log_in(browser_context, live_app, user)
    assert page.goto(f"{live_app}/c/{theirs.pk}/").status == 404
    expect(page.locator("#instructions-dialog")).to_have_count(0)
    page.goto(f"{live_app}/")
    # A new chat has no conversation yet: nothing to give instructions to.
    expect(page.get_by_role("button", name="Instructions", exact=True)).to_be_hidden()
    status = page.evaluate(
        """async (url) => (await fetch(url, {
            method: "PATCH",
            headers: {"Content-Type": "application/json", "X-CSRFToken":
                document.querySelector("input[name=csrfmiddlewaretoken]").value},
            body: JSON.stringify({instructions: "Mine now."}),
        })).status""",
        f"/api/chat/sessions/{theirs.pk}",
    )
    assert status == 404
    assert ChatSession.objects.get(pk=theirs.pk).instructions == "Theirs."


def test_a_new_chat_takes_instructions_once_it_exists(
    live_app, browser_context, page, user, upstream
):
    log_in(browser_context, live_app, user)
    page.goto(f"{live_app}/")
    page.locator("#composer-input").fill("Hello")
    page.locator("#composer-input").press("Enter")
    expect(page.locator(".message-assistant").last).to_have_attribute("data-status", "complete")
    dialog = open_dialog(page)
    dialog.get_by_role("textbox", name="Instructions").fill(INSTRUCTIONS)
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    assert ChatSession.objects.get(user=user).instructions == INSTRUCTIONS


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("width", list(WIDTHS))
def test_open_dialog_has_no_axe_violation(chromium, live_app, user, artifacts_dir, width, theme):
    session = conversation(user, turns=1, instructions="Be brief.")
    screens = artifacts_dir / "screens"
    screens.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(viewport=WIDTHS[width], color_scheme=theme)
    try:
        log_in(context, live_app, user)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{live_app}/c/{session.pk}/")
        dialog = open_dialog(page)
        audit(page, screens, f"chat-instructions-{width}-{theme}")
        dialog.get_by_role("textbox", name="Instructions").fill("x" * 4001)
        dialog.get_by_role("button", name="Save").click()
        expect(dialog.locator("#instructions-error")).to_be_visible()
        audit(page, screens, f"chat-instructions-error-{width}-{theme}")
        assert errors == []
    finally:
        context.close()
