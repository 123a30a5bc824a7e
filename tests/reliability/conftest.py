"""Fixtures of the reliability matrix: a real HTTP client of the live ASGI app."""

from __future__ import annotations

import httpx
import pytest

from accounts import services as account_services
from tests.factories import UserFactory


@pytest.fixture
def api(live_app):
    """An HTTP client of the live app holding a fresh user's token (``api.user``)."""
    user = UserFactory()
    token = account_services.issue_token(user=user).token
    with httpx.Client(
        base_url=live_app, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as client:
        client.user = user
        yield client
