"""Fixtures for the REST API tests: clients holding real tokens, a private cache."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts import services as account_services


def token_for(user) -> str:
    return account_services.issue_token(user=user).token


def bearer_client(user) -> Client:
    return Client(headers={"Authorization": f"Bearer {token_for(user)}"})


@pytest.fixture
def api(user) -> Client:
    """The test client acting as ``user`` with a personal API token."""
    return bearer_client(user)


@pytest.fixture
def other_api(other_user) -> Client:
    return bearer_client(other_user)


@pytest.fixture
def anonymous() -> Client:
    return Client()
