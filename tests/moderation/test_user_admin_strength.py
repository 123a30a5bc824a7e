"""The user admin, the cases mutation testing found unchecked: what a moderator sees of a
user (the view-only fieldsets) and what a superuser sees, who is offered suspension, and
the count in each action's notice, singular and plural."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Permission
from django.test import RequestFactory

from accounts.admin import VIEW_ONLY_FIELDSETS
from accounts.models import User
from tests.factories import UserFactory
from tests.moderation.admin_actions import changelist_action

pytestmark = pytest.mark.django_db

USERS = "/admin/accounts/user/"


def user_admin():
    return admin.site._registry[User]


def request_by(user):
    request = RequestFactory().get(USERS)
    request.user = user
    return request


def notices(client) -> list[str]:
    return [str(notice) for notice in client.get(USERS).context["messages"]]


def test_a_moderator_sees_the_view_only_fieldsets(moderator, user):
    assert user_admin().get_fieldsets(request_by(moderator), user) == VIEW_ONLY_FIELDSETS


def test_a_superuser_sees_every_field_and_the_chat_ones(superuser, user):
    fieldsets = user_admin().get_fieldsets(request_by(superuser), user)
    assert fieldsets == (
        *DjangoUserAdmin.fieldsets,
        ("Chat", {"fields": ("chat_suspended", "custom_instructions")}),
    )


def test_adding_a_user_uses_djangos_add_form(superuser, moderator):
    for person in (superuser, moderator):
        assert user_admin().get_fieldsets(request_by(person), None) == DjangoUserAdmin.add_fieldsets


def test_a_moderators_change_page_shows_the_view_only_fields(moderator_client, user):
    response = moderator_client.get(f"{USERS}{user.pk}/change/")
    names = [fieldset.name for fieldset in response.context["adminform"]]
    assert names == [None, "Status", "Chat"]


def test_suspension_is_offered_only_with_its_permission(moderator, user):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_user"))
    viewer = User.objects.get(pk=viewer.pk)
    assert user_admin().has_suspend_permission(request_by(moderator)) is True
    assert user_admin().has_suspend_permission(request_by(viewer)) is False
    assert {"suspend", "restore"} <= set(user_admin().get_actions(request_by(moderator)))
    assert not {"suspend", "restore"} & set(user_admin().get_actions(request_by(viewer)))


def test_the_notices_count_users_in_singular_and_plural(moderator_client):
    first, second = UserFactory(), UserFactory()
    changelist_action(moderator_client, USERS, "suspend", [first, second])
    assert notices(moderator_client) == ["2 users suspended; they can still log in and read."]
    changelist_action(moderator_client, USERS, "suspend", [first])
    assert notices(moderator_client) == ["0 users suspended; they can still log in and read."]
    changelist_action(moderator_client, USERS, "restore", [first])
    assert notices(moderator_client) == ["1 user restored."]
    changelist_action(moderator_client, USERS, "restore", [first, second])
    assert notices(moderator_client) == ["1 user restored."]
    changelist_action(moderator_client, USERS, "restore", [first])
    assert notices(moderator_client) == ["0 users restored."]
    assert not User.objects.filter(pk__in=[first.pk, second.pk], chat_suspended=True).exists()
