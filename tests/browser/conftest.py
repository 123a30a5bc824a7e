"""Fixtures for browser tests: a logged-in Chromium page against the live ASGI app."""

from __future__ import annotations

import pytest
from django.test import Client


def log_in(browser_context, live_app: str, user) -> None:
    """Give the browser a session cookie for ``user`` (what logging in would set)."""
    client = Client()
    client.force_login(user)
    browser_context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_app}]
    )


@pytest.fixture
def logged_in_page(live_app, browser_context, page, user):
    log_in(browser_context, live_app, user)
    return page
