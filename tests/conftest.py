"""Fixtures for the whole suite: the loopback model upstream and users."""

from __future__ import annotations

import pytest
from asgiref.sync import SyncToAsync
from django.db import connections

from tests.factories import UserFactory
from tests.upstream import FakeUpstream


@pytest.fixture(scope="session", autouse=True)
def _close_async_test_connections(django_db_setup):
    """Async tests reach the ORM through asgiref's shared thread; close its connection
    before the test database is dropped (PostgreSQL refuses to drop a database in use)."""
    yield
    SyncToAsync.single_thread_executor.submit(connections.close_all).result()


@pytest.fixture(scope="session")
def upstream_server():
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def upstream(upstream_server, settings):
    """The real OpenAI-compatible server on loopback, configured as the app's model."""
    upstream_server.reset()
    settings.OPENAI_BASE_URL = upstream_server.base_url
    settings.OPENAI_API_KEY = "sk-test-secret-key"
    settings.CHATBOT_MODEL = "test-model"
    yield upstream_server
    upstream_server.reset()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def other_user(db):
    return UserFactory()
