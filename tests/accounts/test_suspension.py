"""Suspending users (moderators, from admin): only users not yet so change, each change is
one entry in admin's log, and a suspension closes the user's sockets once committed."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry

from accounts import services
from accounts.models import User
from conversations import events
from tests.accounts.test_services_strength import Listener
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def logged() -> list[tuple]:
    return list(LogEntry.objects.values_list("object_id", "user_id", "change_message"))


def suspended_ids() -> set[int]:
    return set(User.objects.filter(chat_suspended=True).values_list("pk", flat=True))


def test_suspending_changes_logs_and_disconnects_only_users_not_yet_suspended(
    django_capture_on_commit_callbacks,
):
    moderator, bystander = UserFactory(is_staff=True), UserFactory()
    fresh, already = UserFactory(), UserFactory(chat_suspended=True)
    tab = Listener(fresh.pk)
    chosen = User.objects.filter(pk__in=[fresh.pk, already.pk])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert services.suspend_users(moderator=moderator, users=chosen) == 1
    assert suspended_ids() == {fresh.pk, already.pk}
    assert bystander.pk not in suspended_ids()
    assert logged() == [(str(fresh.pk), moderator.pk, "Suspended chat access.")]
    assert len(callbacks) == 1
    assert tab.next_event() == {
        "type": "chat.close",
        "code": events.ACCESS_ENDED,
        "reason": "suspended",
        "session": None,
    }


def test_restoring_gives_access_back_to_suspended_users_only_and_closes_nothing(
    django_capture_on_commit_callbacks,
):
    moderator = UserFactory(is_staff=True)
    suspended, active = UserFactory(chat_suspended=True), UserFactory()
    chosen = User.objects.filter(pk__in=[suspended.pk, active.pk])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert services.restore_users(moderator=moderator, users=chosen) == 1
    assert suspended_ids() == set()
    assert logged() == [(str(suspended.pk), moderator.pk, "Restored chat access.")]
    assert callbacks == []
