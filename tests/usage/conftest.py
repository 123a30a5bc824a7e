"""Fixtures for the usage tests: an API client holding a real token."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.api.conftest import bearer_client


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
