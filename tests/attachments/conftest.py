"""Fixtures for files: a private storage folder per test, clients with real tokens."""

from __future__ import annotations

import copy

import pytest
from django.test import Client

from catalogue.models import Model, Provider
from tests.api.conftest import bearer_client


@pytest.fixture(autouse=True)
def file_storage_dir(settings, tmp_path):
    """The attachments storage in a folder of this test's own."""
    storages = copy.deepcopy(settings.STORAGES)
    storages["attachments"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": tmp_path / "attachments"},
    }
    settings.STORAGES = storages
    return tmp_path / "attachments"


@pytest.fixture
def api(user) -> Client:
    return bearer_client(user)


@pytest.fixture
def other_api(other_user) -> Client:
    return bearer_client(other_user)


@pytest.fixture
def models(transactional_db, upstream):
    """The catalogue on the loopback upstream: ``seer`` (the default, takes images) and
    ``plain`` (takes none), each a window of 8,000 tokens (a prompt budget of 4,000)."""
    provider = Provider.objects.create(name="loopback", base_url=upstream.base_url)
    Model.objects.create(
        id="seer",
        label="Seer",
        provider=provider,
        vision=True,
        is_default=True,
        context_tokens=8000,
    )
    Model.objects.create(id="plain", label="Plain", provider=provider, context_tokens=8000)
