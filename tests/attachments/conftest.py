"""Fixtures for files: a private storage folder per test, clients with real tokens."""

from __future__ import annotations

import copy

import pytest
from django.test import Client

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
