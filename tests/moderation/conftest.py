"""Fixtures for moderation: a moderator (staff, in the "Moderators" group) and a superuser,
with logged-in Django test clients."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.test import Client

from tests.factories import UserFactory

moderators_migration = importlib.import_module("conversations.migrations.0003_moderators_group")
sharing_migration = importlib.import_module("sharing.migrations.0002_moderator_permissions")
files_migration = importlib.import_module("attachments.migrations.0003_moderator_permissions")


@pytest.fixture
def moderators_group(db) -> Group:
    """The group exactly as the data migration makes it. Transactional tests flush the
    database afterwards, data migrations' rows included, so it is made again the same way
    (test_roles runs the migration itself to prove what it creates)."""
    moderators_migration.create_moderators(apps, None)
    sharing_migration.grant(apps, None)
    files_migration.grant(apps, None)
    return Group.objects.get(name=moderators_migration.MODERATORS)


@pytest.fixture
def moderator(moderators_group):
    user = UserFactory(is_staff=True)
    user.groups.add(moderators_group)
    return user


@pytest.fixture
def superuser(db):
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def moderator_client(moderator) -> Client:
    client = Client()
    client.force_login(moderator)
    return client


@pytest.fixture
def superuser_client(superuser) -> Client:
    client = Client()
    client.force_login(superuser)
    return client
