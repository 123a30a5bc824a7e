"""Fixtures for the security matrix: logged-in clients and WebSockets (reused from tests/web)."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from tests.web.conftest import sockets  # noqa: F401  (the fixture, reused as is)


def fresh_address() -> str:
    """A client address of its own: allauth counts failed logins per IP in a shared cache."""
    number = uuid.uuid4().int
    return f"10.{number % 250}.{(number >> 8) % 250}.{(number >> 16) % 250 + 1}"


@pytest.fixture
def client_for():
    """A Django test client logged in as ``user`` (``None``: anonymous)."""

    def make(user=None, **kwargs) -> Client:
        client = Client(REMOTE_ADDR=fresh_address(), **kwargs)
        if user is not None:
            client.force_login(user)
        return client

    return make


@pytest.fixture
def suspended_user(db):
    from tests.factories import UserFactory

    return UserFactory(chat_suspended=True)
