"""Fixtures for browser tests: a logged-in Chromium page against the live ASGI app."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest
from django.test import Client

T = TypeVar("T")


def log_in(browser_context, live_app: str, user) -> None:
    """Give the browser a session cookie for ``user`` (what logging in would set)."""
    client = Client()
    client.force_login(user)
    browser_context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_app}]
    )


def wait_until(condition: Callable[[], T], *, page=None, timeout: float = 30, what: str = "") -> T:
    """``condition()``'s first truthy value, polled until ``timeout`` seconds have passed.

    It returns as soon as the condition holds, so a generous timeout costs nothing on a fast
    machine. With ``page`` the wait goes through Playwright, which delivers the page's events
    (requests, console messages) meanwhile; a plain sleep would hold them back."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s: {what or condition}")
        if page is None:
            time.sleep(0.05)
        else:
            page.wait_for_timeout(50)
    return value


def wait_for_open_drawer(page) -> None:
    """Wait until the phone drawer is open and its slide-in transition has finished (a
    fixed pause can be too short on a loaded machine)."""
    page.wait_for_function(
        """() => {
            const sidebar = document.getElementById('sidebar');
            return sidebar.classList.contains('open') && sidebar.getAnimations().length === 0
                && sidebar.getBoundingClientRect().left >= 0;
        }"""
    )


@pytest.fixture
def logged_in_page(live_app, browser_context, page, user):
    log_in(browser_context, live_app, user)
    return page
