"""Sidebar search in Chromium: each result shows its excerpt with the match marked, as text."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.factories import ChatSessionFactory, MessageFactory

pytestmark = pytest.mark.browser


def test_search_shows_my_results_with_the_match_marked_and_markup_as_text(
    logged_in_page, live_app, user, other_user
):
    found = ChatSessionFactory(user=user, title="Untitled")
    MessageFactory(session=found, content="a note on <script>window.pwned = 1</script> tags")
    unrelated = ChatSessionFactory(user=user, title="Gardening")
    MessageFactory(session=unrelated, content="tomatoes need sun")
    theirs = ChatSessionFactory(user=other_user, title="Their <script> chat")
    MessageFactory(session=theirs, content="their private <script> secret")
    page = logged_in_page
    page.goto(live_app + "/")
    search = page.get_by_role("searchbox", name="Search conversations")
    search.fill("<script>")
    search.press("Enter")
    page.wait_for_url("**/?q=*")

    items = page.locator("#session-lists .session-item")
    expect(items).to_have_count(1)
    snippet = items.first.locator(".session-snippet")
    expect(snippet).to_have_text("a note on <script>window.pwned = 1</script> tags")
    expect(snippet.locator("mark")).to_have_text("<script>")
    expect(items.first.locator(".session-link")).to_have_accessible_description(
        "a note on <script>window.pwned = 1</script> tags"
    )
    assert page.evaluate("() => window.pwned") is None
    sidebar = page.locator("#sidebar")
    expect(sidebar).not_to_contain_text("secret")
    expect(sidebar).not_to_contain_text("Their")
    expect(sidebar).not_to_contain_text("Gardening")
