"""Branches in a real Chromium (issue 14): edit and resend, regenerate keeping every
answer, the "‹ 2 / 3 ›" switcher, a reload and a second tab, against the loopback model."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conversations.models import ChatSession
from loopback.upstream import Behaviour
from tests.factories import MessageFactory, conversation

pytestmark = pytest.mark.browser


def bubbles(page):
    return page.locator("#messages > .message")


def body_texts(page) -> list[str]:
    return [text.strip() for text in bubbles(page).locator(".message-body").all_inner_texts()]


def switcher(bubble):
    return bubble.get_by_role("group", name="Versions of this message")


def edit(page, bubble, text: str) -> None:
    bubble.get_by_role("button", name="Edit").click()
    field = bubble.get_by_role("textbox", name="Edit your message")
    expect(field).to_be_focused()
    field.fill(text)
    bubble.get_by_role("button", name="Save and send").click()


def test_edit_an_earlier_message_starts_a_branch_and_the_old_one_stays_reachable(
    logged_in_page, live_app, upstream, user
):
    session = conversation(user, turns=2, title="Trip")
    page = logged_in_page
    page.goto(f"{live_app}/c/{session.pk}/")
    expect(bubbles(page)).to_have_count(4)
    # A conversation that never branched shows no switcher.
    expect(page.locator(".branch-switcher")).to_have_count(0)

    upstream.push(Behaviour(content="Porto is lovely in May."))
    edit(page, bubbles(page).nth(2), "What about Porto?")
    expect(bubbles(page).nth(2).locator(".message-body")).to_have_text("What about Porto?")
    expect(bubbles(page)).to_have_count(4)
    expect(bubbles(page).nth(3)).to_have_attribute("data-status", "complete")
    assert body_texts(page) == [
        "question 0",
        "answer 0",
        "What about Porto?",
        "Porto is lovely in May.",
    ]
    edited = bubbles(page).nth(2)
    expect(switcher(edited)).to_contain_text("2 / 2")
    expect(switcher(edited).get_by_text("Version 2 of 2")).to_be_attached()
    expect(switcher(edited).get_by_role("button", name="Next version")).to_be_disabled()
    # The model was given the path to the edited message only: not the old question 1.
    sent = [(m["role"], m["content"]) for m in upstream.reply_requests()[-1]["messages"]]
    assert [m for m in sent if m[0] != "system"] == [
        ("user", "question 0"),
        ("assistant", "answer 0"),
        ("user", "What about Porto?"),
    ]

    switcher(edited).get_by_role("button", name="Previous version").click()
    expect(bubbles(page).nth(2).locator(".message-body")).to_have_text("question 1")
    assert body_texts(page) == ["question 0", "answer 0", "question 1", "answer 1"]
    old = bubbles(page).nth(2)
    expect(switcher(old)).to_contain_text("1 / 2")
    # The keyboard stays on the switcher: the other step now that the first is the end.
    expect(switcher(old).get_by_role("button", name="Next version")).to_be_focused()
    session.refresh_from_db()
    assert session.current_message.content == "answer 1"

    page.reload()
    expect(bubbles(page)).to_have_count(4)
    assert body_texts(page) == ["question 0", "answer 0", "question 1", "answer 1"]
    expect(switcher(bubbles(page).nth(2))).to_contain_text("1 / 2")
    # By keyboard: the focused "next" button goes back to the edited branch.
    switcher(bubbles(page).nth(2)).get_by_role("button", name="Next version").focus()
    page.keyboard.press("Enter")
    expect(bubbles(page).nth(3).locator(".message-body")).to_have_text("Porto is lovely in May.")
    assert page.js_errors == []


def test_regenerate_keeps_the_old_answer_behind_the_switcher(
    logged_in_page, live_app, upstream, user
):
    session = conversation(user, turns=1, title="Again")
    page = logged_in_page
    page.goto(f"{live_app}/c/{session.pk}/")
    expect(bubbles(page)).to_have_count(2)
    upstream.push(Behaviour(content="Second answer"), Behaviour(content="Third answer"))
    bubbles(page).nth(1).get_by_role("button", name="Regenerate").click()
    reply = bubbles(page).nth(1)
    expect(reply.locator(".message-body")).to_have_text("Second answer")
    expect(switcher(bubbles(page).nth(1))).to_contain_text("2 / 2")
    expect(bubbles(page)).to_have_count(2)

    bubbles(page).nth(1).get_by_role("button", name="Regenerate").click()
    expect(reply.locator(".message-body")).to_have_text("Third answer")
    expect(switcher(bubbles(page).nth(1))).to_contain_text("3 / 3")
    # Each regenerate sent the same path: the question, never an earlier answer.
    for request in upstream.reply_requests()[-2:]:
        assert [m["content"] for m in request["messages"] if m["role"] != "system"] == [
            "question 0"
        ]

    for expected, position in (("Second answer", "2 / 3"), ("answer 0", "1 / 3")):
        switcher(bubbles(page).nth(1)).get_by_role("button", name="Previous version").click()
        expect(bubbles(page).nth(1).locator(".message-body")).to_have_text(expected)
        expect(switcher(bubbles(page).nth(1))).to_contain_text(position)
    page.reload()
    expect(bubbles(page).nth(1).locator(".message-body")).to_have_text("answer 0")
    expect(switcher(bubbles(page).nth(1))).to_contain_text("1 / 3")
    assert page.js_errors == []


def test_escape_cancels_an_edit_and_nothing_is_sent(logged_in_page, live_app, upstream, user):
    session = conversation(user, turns=1, title="Cancel")
    page = logged_in_page
    page.goto(f"{live_app}/c/{session.pk}/")
    question = bubbles(page).first
    question.get_by_role("button", name="Edit").focus()
    page.keyboard.press("Enter")
    field = question.get_by_role("textbox", name="Edit your message")
    expect(field).to_have_value("question 0")
    field.fill("never sent")
    page.keyboard.press("Escape")
    expect(field).to_have_count(0)
    expect(question.locator(".message-body")).to_have_text("question 0")
    expect(question.get_by_role("button", name="Edit")).to_be_focused()
    question.get_by_role("button", name="Edit").click()
    question.get_by_role("button", name="Cancel").click()
    expect(question.get_by_role("textbox")).to_have_count(0)
    assert session.messages.count() == 2 and upstream.reply_requests() == []
    assert page.js_errors == []


def test_another_tab_follows_edits_and_switches(
    logged_in_page, live_app, upstream, user, browser_context
):
    session = conversation(user, turns=1, title="Two tabs")
    page = logged_in_page
    page.goto(f"{live_app}/c/{session.pk}/")
    other = browser_context.new_page()
    other.js_errors = []
    other.on("pageerror", lambda error: other.js_errors.append(str(error)))
    other.goto(f"{live_app}/c/{session.pk}/")
    expect(other.locator("#chat-app")).to_have_attribute("data-connected", "true")
    expect(page.locator("#chat-app")).to_have_attribute("data-connected", "true")

    upstream.push(Behaviour(content="New answer"))
    edit(page, bubbles(page).first, "Edited question")
    expect(bubbles(page).first.locator(".message-body")).to_have_text("Edited question")
    expect(bubbles(page).nth(1)).to_have_attribute("data-status", "complete")
    # The other tab shows the new branch as it streams, switcher included.
    expect(bubbles(other).nth(1).locator(".message-body")).to_have_text("New answer")
    assert body_texts(other) == ["Edited question", "New answer"]
    expect(switcher(bubbles(other).first)).to_contain_text("2 / 2")

    switcher(bubbles(page).first).get_by_role("button", name="Previous version").click()
    expect(bubbles(page).first.locator(".message-body")).to_have_text("question 0")
    # A switch made in one tab moves the other one too (the WebSocket's branch event).
    expect(bubbles(other).first.locator(".message-body")).to_have_text("question 0")
    assert body_texts(other) == ["question 0", "answer 0"]
    expect(switcher(bubbles(other).first)).to_contain_text("1 / 2")
    assert ChatSession.objects.get(pk=session.pk).current_message.content == "answer 0"
    assert page.js_errors == [] and other.js_errors == []


def test_copy_gives_each_message_its_markdown_source(
    logged_in_page, live_app, upstream, user, browser_context
):
    browser_context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_app)
    session = conversation(user, turns=0, title="Copy")
    page = logged_in_page
    page.goto(f"{live_app}/c/{session.pk}/")
    upstream.push(Behaviour(content="Use **sorted** with a key:\n\n```python\nsorted(xs)\n```"))
    page.locator("#composer-input").fill("How do I sort?\nBriefly.")
    page.locator("#composer-input").press("Enter")
    reply = page.locator(".message-assistant")
    expect(reply).to_have_attribute("data-status", "complete")
    reply.get_by_role("button", name="Copy message").click()
    expect(reply.get_by_role("button", name="Copy message")).to_have_text("Copied")
    source = "Use **sorted** with a key:\n\n```python\nsorted(xs)\n```"
    assert page.evaluate("() => navigator.clipboard.readText()") == source
    page.locator(".message-user").get_by_role("button", name="Copy message").click()
    expect(page.locator(".message-user").get_by_role("button", name="Copy message")).to_have_text(
        "Copied"
    )
    assert page.evaluate("() => navigator.clipboard.readText()") == "How do I sort?\nBriefly."
    page.reload()
    copy = page.locator(".message-assistant").get_by_role("button", name="Copy message")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == source
    assert page.js_errors == []


def test_retry_keeps_the_failed_reply_behind_the_switcher(logged_in_page, live_app, upstream, user):
    session = conversation(user, turns=0, title="Retry")
    MessageFactory(session=session, content="question")
    MessageFactory(session=session, role="assistant", content="half", status="failed")
    page = logged_in_page
    page.goto(f"{live_app}/c/{session.pk}/")
    upstream.push(Behaviour(content="Whole answer"))
    bubbles(page).nth(1).get_by_role("button", name="Retry").click()
    expect(bubbles(page).nth(1).locator(".message-body")).to_have_text("Whole answer")
    expect(bubbles(page).nth(1)).to_have_attribute("data-status", "complete")
    expect(switcher(bubbles(page).nth(1))).to_contain_text("2 / 2")
    switcher(bubbles(page).nth(1)).get_by_role("button", name="Previous version").click()
    expect(bubbles(page).nth(1)).to_have_attribute("data-status", "failed")
    expect(bubbles(page).nth(1).locator(".message-body")).to_have_text("half")
    assert page.js_errors == []


def test_branches_at_phone_width(logged_in_page, live_app, user, upstream, artifacts_dir):
    page = logged_in_page
    session = conversation(user, turns=2, title="Phone")
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(f"{live_app}/c/{session.pk}/")
    upstream.push(Behaviour(content="A shorter answer."))
    edit(page, bubbles(page).nth(2), "A much longer question typed on a phone, to wrap lines")
    expect(bubbles(page).nth(3)).to_have_attribute("data-status", "complete")
    expect(bubbles(page).nth(3).locator(".message-body")).to_have_text("A shorter answer.")
    edited = switcher(bubbles(page).nth(2))
    expect(edited).to_contain_text("2 / 2")
    # Nothing is pushed sideways: the switcher and the buttons fit the screen.
    assert page.locator("#scroller").evaluate("s => s.scrollWidth <= s.clientWidth")
    box = edited.get_by_role("button", name="Previous version").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["height"] >= 24
    bubbles(page).first.get_by_role("button", name="Edit").click()
    page.screenshot(path=str(artifacts_dir / "branches-phone.png"))
    assert page.locator("#scroller").evaluate("s => s.scrollWidth <= s.clientWidth")
    assert page.js_errors == []
