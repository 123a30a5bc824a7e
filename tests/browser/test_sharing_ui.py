"""Sharing, exporting, organizing and rating in Chromium (issue 19's browser side), the
details of a reply (issue 20) and the switch for single-key shortcuts (issue 16)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from conversations.models import ChatSession, Message
from loopback.upstream import Behaviour
from sharing.models import MessageFeedback, SharedConversation
from sharing.services import share_session
from tests.browser.conftest import wait_until
from tests.factories import MessageFactory, conversation
from tests.sharing.test_import import chatgpt_conversation

pytestmark = pytest.mark.browser


def finished(reply: Message) -> Message:
    """The reply's row once this test's connection sees it finished (the page may be told
    a moment before the database's snapshot here shows the commit)."""
    rows = Message.objects.filter(pk=reply.pk).exclude(status=Message.Status.STREAMING)
    return wait_until(rows.first, what="the reply's finished row")


def open_menu(page, title: str):
    page.get_by_role("button", name=f"Actions for {title}").click()
    return page.locator(".session-item", has_text=title).get_by_role("menu")


def test_share_dialog_creates_copies_and_revokes_the_link(
    logged_in_page, browser_context, live_app, user
):
    browser_context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_app)
    session = conversation(user, turns=1, title="Trip to Lisbon")
    page = logged_in_page
    page.goto(f"{live_app}/c/{session.pk}/")
    open_menu(page, "Trip to Lisbon").get_by_role("menuitem", name="Share").click()
    dialog = page.get_by_role("dialog", name="Share conversation")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Create link").click()
    link = dialog.get_by_label("Link")
    expect(link).to_have_value(re.compile(r"/s/"))
    url = link.input_value()
    assert url == f"{live_app}/s/{SharedConversation.objects.get(session=session).token}"

    dialog.get_by_role("button", name="Copy link").click()
    expect(dialog.get_by_role("status")).to_have_text("Link copied.")
    assert page.evaluate("() => navigator.clipboard.readText()") == url
    viewer = browser_context.new_page()
    assert viewer.goto(url).status == 200
    expect(viewer.get_by_role("heading", level=1)).to_have_text("Trip to Lisbon")

    dialog.get_by_role("button", name="Revoke link").click()
    expect(dialog.get_by_role("status")).to_contain_text("Link revoked")
    expect(link).to_be_hidden()
    assert not SharedConversation.objects.exists()
    assert viewer.goto(url).status == 404
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    assert page.js_errors == []


@pytest.mark.parametrize(
    ("item", "suffix", "expected"),
    [("Export as Markdown", ".md", "question 0"), ("Export as JSON", ".json", '"question 0"')],
)
def test_export_items_download_the_conversation(
    logged_in_page, live_app, user, item, suffix, expected
):
    session = conversation(user, turns=1, title="Exported chat")
    page = logged_in_page
    page.goto(f"{live_app}/c/{session.pk}/")
    menu = open_menu(page, "Exported chat")
    with page.expect_download() as download:
        menu.get_by_role("menuitem", name=item).click()
    assert download.value.suggested_filename.endswith(suffix)
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert "Exported chat" in text and expected in text
    if suffix == ".json":
        json.loads(text)


def test_pinned_conversations_come_first_in_their_group_and_can_be_unpinned(
    logged_in_page, live_app, user
):
    older = conversation(user, turns=1, title="Older chat")
    newer = conversation(user, turns=1, title="Newer chat")
    assert older.updated_at < newer.updated_at
    page = logged_in_page
    page.goto(f"{live_app}/")
    open_menu(page, "Older chat").get_by_role("menuitem", name="Pin").click()
    pinned = page.get_by_role("list", name="Pinned")
    expect(pinned.get_by_role("link")).to_have_text(["Older chat"])
    expect(page.get_by_role("status").filter(has_text="Conversation pinned.")).to_have_count(1)
    assert ChatSession.objects.get(pk=older.pk).pinned

    page.reload()
    expect(pinned.get_by_role("link")).to_have_text(["Older chat"])
    expect(page.get_by_role("list", name="Recent").get_by_role("link")).to_have_text(["Newer chat"])
    open_menu(page, "Older chat").get_by_role("menuitem", name="Unpin").click()
    expect(page.locator("#pinned-group")).to_be_hidden()
    expect(page.locator("#session-list .session-link")).to_have_text(["Newer chat", "Older chat"])
    assert not ChatSession.objects.get(pk=older.pk).pinned
    assert page.js_errors == []


def test_archived_conversations_leave_the_list_and_are_restored_from_the_archived_view(
    logged_in_page, live_app, user
):
    kept = conversation(user, turns=1, title="Kept chat")
    conversation(user, turns=1, title="Old project")
    page = logged_in_page
    page.goto(f"{live_app}/c/{kept.pk}/")
    open_menu(page, "Old project").get_by_role("menuitem", name="Archive").click()
    expect(page.locator(".session-link")).to_have_text(["Kept chat"])
    assert ChatSession.objects.get(title="Old project").archived

    page.get_by_role("link", name="Archived conversations").click()
    expect(page.get_by_role("list", name="Archived").get_by_role("link")).to_have_text(
        ["Old project"]
    )
    open_menu(page, "Old project").get_by_role("menuitem", name="Unarchive").click()
    expect(page.locator(".session-link")).to_have_count(0)
    assert not ChatSession.objects.get(title="Old project").archived
    page.get_by_role("link", name="Back to all conversations").click()
    expect(page.locator(".session-link")).to_have_text(["Old project", "Kept chat"])
    assert page.js_errors == []


def test_settings_lists_shared_links_and_revokes_one(logged_in_page, live_app, user):
    shared = conversation(user, turns=1, title="Shared recipe")
    kept = conversation(user, turns=1, title="Shared plan")
    share_session(user=user, session_id=shared.pk)
    share_session(user=user, session_id=kept.pk)
    page = logged_in_page
    page.goto(f"{live_app}/settings/")
    table = page.locator("#shared-links")
    expect(table.get_by_role("link")).to_have_text(["Shared plan", "Shared recipe"])
    table.get_by_role("row", name="Shared recipe").get_by_role("button", name="Revoke").click()
    expect(page.locator("#shared-links-status")).to_contain_text("Link revoked")
    expect(table.get_by_role("link")).to_have_text(["Shared plan"])
    assert list(SharedConversation.objects.values_list("session_id", flat=True)) == [kept.pk]
    assert page.js_errors == []


def test_import_in_settings_uploads_with_progress_and_reports_the_result(
    logged_in_page, live_app, user, tmp_path
):
    export = tmp_path / "conversations.json"
    export.write_text(json.dumps([chatgpt_conversation("c-1"), chatgpt_conversation("c-2")]))
    page = logged_in_page
    page.goto(f"{live_app}/settings/")
    page.get_by_label("Export file").set_input_files(str(export))
    page.get_by_role("button", name="Import", exact=True).click()
    status = page.locator("#import-status")
    expect(status).to_have_text("Imported: 2. Skipped: 0.")
    expect(page.locator("#import-progress")).to_be_hidden()
    assert ChatSession.objects.filter(user=user).count() == 2

    page.get_by_role("button", name="Import", exact=True).click()
    expect(status).to_have_text("Imported: 0. Skipped: 2.")
    export.write_text('[{"mapping": ')
    page.get_by_label("Export file").set_input_files(str(export))
    page.get_by_role("button", name="Import", exact=True).click()
    # The upload's answer, not a state on the way to it: "Uploading…" and "Reading the
    # conversations…" would pass the last check too.
    expect(status).not_to_have_text(
        re.compile(r"^(Imported: 0\. Skipped: 2\.|Uploading…|Reading the conversations…)$")
    )
    expect(page.locator("#import-form")).to_have_attribute("aria-busy", "false")
    assert "Imported" not in status.inner_text()
    assert ChatSession.objects.filter(user=user).count() == 2
    assert page.js_errors == []


def test_import_shows_progress_while_the_upload_runs(logged_in_page, live_app, user, tmp_path):
    export = tmp_path / "conversations.json"
    export.write_text(json.dumps([chatgpt_conversation("c-1")]))
    page = logged_in_page
    page.goto(f"{live_app}/settings/")
    page.get_by_label("Export file").set_input_files(str(export))
    # The server's answer is held back until the progress bar has been seen.
    released = []
    page.route("**/api/chat/import", lambda route: released.append(route), times=1)
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator("#import-progress")).to_be_visible()
    expect(page.locator("#import-form")).to_have_attribute("aria-busy", "true")
    expect(page.get_by_role("button", name="Import", exact=True)).to_be_disabled()
    released[0].continue_()
    expect(page.locator("#import-status")).to_have_text("Imported: 1. Skipped: 0.")
    expect(page.get_by_role("button", name="Import", exact=True)).to_be_enabled()


def test_thumbs_are_saved_with_a_comment_and_shown_again_on_reload(logged_in_page, live_app, user):
    session = conversation(user, turns=2, title="Rated chat")
    first, second = Message.objects.filter(session=session, role="assistant").order_by("sequence")
    page = logged_in_page
    page.goto(f"{live_app}/c/{session.pk}/")
    replies = page.locator(".message-assistant")
    up = replies.first.get_by_role("button", name="Good reply")
    expect(up).to_have_attribute("aria-pressed", "false")
    up.click()
    expect(up).to_have_attribute("aria-pressed", "true")
    down = replies.last.get_by_role("button", name="Bad reply")
    down.click()
    expect(down).to_have_attribute("aria-pressed", "true")
    comment = replies.last.get_by_label("What was wrong with it? (optional)")
    expect(comment).to_be_focused()
    comment.fill("It missed the point.")
    replies.last.get_by_role("button", name="Send feedback").click()
    expect(comment).to_be_hidden()
    assert {(f.message_id, f.rating, f.comment) for f in MessageFeedback.objects.all()} == {
        (first.pk, "up", ""),
        (second.pk, "down", "It missed the point."),
    }

    page.reload()
    expect(replies.first.get_by_role("button", name="Good reply")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(replies.last.get_by_role("button", name="Bad reply")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(replies.last.get_by_role("button", name="Good reply")).to_have_attribute(
        "aria-pressed", "false"
    )
    # Pressed again: the rating is removed.
    replies.first.get_by_role("button", name="Good reply").click()
    expect(replies.first.get_by_role("button", name="Good reply")).to_have_attribute(
        "aria-pressed", "false"
    )
    assert list(MessageFeedback.objects.values_list("message_id", flat=True)) == [second.pk]
    assert page.js_errors == []


def test_reply_details_show_model_tokens_and_times_stored_and_just_streamed(
    logged_in_page, live_app, upstream, user
):
    session = conversation(user, turns=0, title="Measured chat")
    MessageFactory(session=session, content="How long?")
    MessageFactory(
        session=session,
        role="assistant",
        content="Not long.",
        model="gpt-test",
        prompt_tokens=1234,
        completion_tokens=56,
        cached_tokens=1024,
        first_token_ms=350,
        total_ms=2100,
    )
    page = logged_in_page
    page.goto(f"{live_app}/c/{session.pk}/")
    reply = page.locator(".message-assistant").first
    details = reply.locator("details.reply-details")
    expect(details.locator("dl")).to_be_hidden()
    details.get_by_text("Details").click()
    expect(details.locator("dd")).to_have_text(
        ["gpt-test", "1234", "56", "1024", "350 ms", "2100 ms"]
    )

    upstream.push(Behaviour(content="Streamed answer.", cached_tokens=3))
    page.locator("#composer-input").fill("And now?")
    page.locator("#composer-input").press("Enter")
    # Two replies on the page before "the last" can mean the streamed one (the seeded
    # reply is complete too).
    expect(page.locator(".message-assistant")).to_have_count(2)
    fresh = page.locator(".message-assistant").nth(1)
    expect(fresh).to_have_attribute("data-status", "complete")
    # From the final ``reply`` event, without a reload.
    fresh.get_by_text("Details").click()
    expect(fresh.locator("dd").last).to_have_text(re.compile(r"^\d+ ms$"))
    # The streamed reply's own row, by the id the page holds: this test's connection may
    # not see the new row yet, so "the latest" could still be the seeded one.
    stored = finished(Message(pk=fresh.get_attribute("data-message-id")))
    expect(fresh.locator("dd")).to_have_text(
        [
            stored.model,
            str(stored.prompt_tokens),
            str(stored.completion_tokens),
            "3",
            f"{stored.first_token_ms} ms",
            f"{stored.total_ms} ms",
        ]
    )
    assert stored.model and stored.completion_tokens
    assert page.js_errors == []


def test_single_key_shortcuts_can_be_turned_off(logged_in_page, live_app, user):
    page = logged_in_page
    page.goto(f"{live_app}/")
    page.locator("h1").click()
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    switch = dialog.get_by_label("Use single-key shortcuts (?)")
    expect(switch).to_be_checked()
    switch.uncheck()
    dialog.get_by_role("button", name="Close").click()
    page.reload()
    page.locator("h1").click()
    page.keyboard.press("?")
    expect(dialog).to_be_hidden()
    # The key combinations still work, and the switch can turn them back on.
    page.keyboard.press("Control+/")
    expect(dialog).to_be_visible()
    expect(switch).not_to_be_checked()
    switch.check()
    dialog.get_by_role("button", name="Close").click()
    page.locator("h1").click()
    page.keyboard.press("?")
    expect(dialog).to_be_visible()
