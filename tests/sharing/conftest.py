"""API clients with real tokens for the sharing tests."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.api.conftest import bearer_client


@pytest.fixture
def api(user) -> Client:
    return bearer_client(user)


@pytest.fixture
def other_api(other_user) -> Client:
    return bearer_client(other_user)
