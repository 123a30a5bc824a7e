"""In a real Chromium, user and model text shows in admin as text: nothing runs and no
element is injected."""

from __future__ import annotations

import pytest

from conversations.models import Message
from tests.factories import PASSWORD, ChatSessionFactory, MessageFactory

pytestmark = pytest.mark.browser

PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    '"><svg onload=alert(1)></svg>',
]
INJECTED = """() => ({
    images: document.querySelectorAll('img[src="x"]').length,
    svgs: document.querySelectorAll('svg[onload]').length,
    scripts: [...document.scripts].filter((s) => s.textContent.includes('alert(1)')).length,
})"""


def assert_inert(page, url: str) -> None:
    response = page.goto(url)
    assert response.status == 200, url
    assert page.evaluate(INJECTED) == {"images": 0, "svgs": 0, "scripts": 0}, url
    assert page.get_by_text("<script>alert(1)</script>").count() >= 1, url
    assert page.dialogs == [] and page.js_errors == [], url


def test_xss_payloads_in_messages_run_nothing_in_admin(live_app, page, moderator, artifacts_dir):
    session = ChatSessionFactory(title="<script>alert(1)</script>", flagged=True)
    for payload in PAYLOADS:
        MessageFactory(session=session, content=payload, flagged=True, flag_categories=[payload])
        MessageFactory(session=session, role=Message.Role.ASSISTANT, content=payload)
    message = session.messages.get(sequence=2)

    page.goto(live_app + "/admin/login/?next=/admin/")
    assert "/accounts/login/" in page.url
    page.fill('input[name="login"]', moderator.username)
    page.fill('input[name="password"]', PASSWORD)
    page.press('input[name="password"]', "Enter")
    page.wait_for_url(live_app + "/admin/")

    admin = live_app + "/admin/conversations/"
    assert_inert(page, f"{admin}chatsession/")
    assert_inert(page, f"{admin}chatsession/{session.pk}/change/")
    page.screenshot(path=str(artifacts_dir / "admin-conversation-xss.png"), full_page=True)
    assert_inert(page, f"{admin}message/")
    assert_inert(page, f"{admin}message/{message.pk}/change/")
