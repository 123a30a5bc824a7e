"""The "Moderators" group: exactly view conversations and messages, hide and flag
messages, view and suspend users. Each allowed action works; each other one is refused."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from conversations.models import ChatSession, Message
from tests.factories import PASSWORD, MessageFactory, UserFactory, conversation
from tests.moderation.admin_actions import changelist_action

MODERATOR_PERMISSIONS = {
    "conversations.view_chatsession",
    "conversations.view_message",
    "conversations.hide_message",
    "conversations.flag_message",
    "accounts.view_user",
    "accounts.suspend_user",
    "sharing.view_sharedconversation",
    "sharing.delete_sharedconversation",
    "sharing.view_messagefeedback",
    "attachments.view_storedfile",
    "attachments.view_messageattachment",
}
SESSIONS = "/admin/conversations/chatsession/"
MESSAGES = "/admin/conversations/message/"
USERS = "/admin/accounts/user/"


def offered_actions(response) -> set[str]:
    return {name for name, _label in response.context["action_form"].fields["action"].choices} - {
        ""
    }


@pytest.mark.django_db(transaction=True)
def test_data_migration_creates_the_group_and_its_permissions_from_scratch():
    executor = MigrationExecutor(connection)
    executor.migrate([("conversations", "0002_moderation_permissions")])
    assert not Group.objects.filter(name="Moderators").exists()
    # As on a fresh database, where post_migrate has not created the custom ones yet.
    Permission.objects.filter(
        codename__in=["hide_message", "flag_message", "suspend_user"]
    ).delete()
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    group = Group.objects.get(name="Moderators")
    granted = {
        f"{app}.{codename}"
        for app, codename in group.permissions.values_list("content_type__app_label", "codename")
    }
    assert granted == MODERATOR_PERMISSIONS


def test_a_moderator_has_exactly_the_groups_permissions(moderator):
    assert moderator.get_all_permissions() == MODERATOR_PERMISSIONS


def test_admin_index_shows_a_moderator_conversations_messages_users_shares_and_feedback(
    moderator_client,
):
    response = moderator_client.get("/admin/")
    assert response.status_code == 200
    shown = {
        (app["app_label"], model["object_name"], model["perms"]["change"], model["perms"]["add"])
        for app in response.context["app_list"]
        for model in app["models"]
    }
    assert shown == {
        ("conversations", "ChatSession", False, False),
        ("conversations", "Message", False, False),
        ("accounts", "User", False, False),
        ("sharing", "SharedConversation", False, False),
        ("sharing", "MessageFeedback", False, False),
        ("attachments", "StoredFile", False, False),
        ("attachments", "MessageAttachment", False, False),
    }


# --- Allowed ----------------------------------------------------------------------------


def test_moderator_reads_conversations_and_messages(moderator_client, user):
    session = conversation(user, turns=1, title="Holiday plans")
    message = session.messages.first()
    for url in (
        SESSIONS,
        f"{SESSIONS}{session.pk}/change/",
        MESSAGES,
        f"{MESSAGES}{message.pk}/change/",
    ):
        response = moderator_client.get(url)
        assert response.status_code == 200, url
    page = moderator_client.get(f"{SESSIONS}{session.pk}/change/").content.decode()
    assert "Holiday plans" in page and "question 0" in page and "answer 0" in page


def test_moderator_is_offered_exactly_the_moderation_actions(moderator_client, user):
    conversation(user, turns=1)
    assert offered_actions(moderator_client.get(MESSAGES)) == {"hide", "unhide", "flag", "unflag"}
    assert offered_actions(moderator_client.get(SESSIONS)) == {"export_json"}
    assert offered_actions(moderator_client.get(USERS)) == {"suspend", "restore"}


def test_moderator_hides_and_flags_messages(moderator_client, user):
    message = MessageFactory(session=conversation(user, turns=0))
    changelist_action(moderator_client, MESSAGES, "hide", [message])
    changelist_action(moderator_client, MESSAGES, "flag", [message])
    message.refresh_from_db()
    assert message.hidden and message.flagged


def test_moderator_suspends_and_restores_a_user(moderator_client, user):
    changelist_action(moderator_client, USERS, "suspend", [user])
    user.refresh_from_db()
    assert user.chat_suspended
    changelist_action(moderator_client, USERS, "restore", [user])
    user.refresh_from_db()
    assert not user.chat_suspended


def test_moderator_exports_conversations(moderator_client, user):
    session = conversation(user, turns=1)
    response = changelist_action(moderator_client, SESSIONS, "export_json", [session])
    assert response.status_code == 200
    assert [c["sessionId"] for c in response.json()["conversations"]] == [str(session.pk)]


def test_moderator_sees_a_user_without_password_groups_or_permissions(moderator_client, user):
    response = moderator_client.get(f"{USERS}{user.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert user.username in page and "Chat suspended" in page
    for hidden in ("md5$", "Groups", "User permissions", "Superuser status"):
        assert hidden not in page


# --- Refused ----------------------------------------------------------------------------


def test_moderator_cannot_add_anything(moderator_client):
    for url in (f"{SESSIONS}add/", f"{MESSAGES}add/", f"{USERS}add/", "/admin/auth/group/add/"):
        assert moderator_client.get(url).status_code == 403, url
    assert moderator_client.post(f"{USERS}add/", {"username": "x"}).status_code == 403


def test_moderator_cannot_delete_anything(moderator_client, user):
    session = conversation(user, turns=1)
    message = session.messages.first()
    pages = (
        f"{SESSIONS}{session.pk}/delete/",
        f"{MESSAGES}{message.pk}/delete/",
        f"{USERS}{user.pk}/delete/",
    )
    for url in pages:
        assert moderator_client.get(url).status_code == 403, url
        assert moderator_client.post(url, {"post": "yes"}).status_code == 403, url
    for url, obj in ((SESSIONS, session), (MESSAGES, message), (USERS, user)):
        changelist_action(moderator_client, url, "delete_selected", [obj])
    assert ChatSession.objects.filter(pk=session.pk).exists()
    assert Message.objects.filter(pk=message.pk).exists()
    assert type(user).objects.filter(pk=user.pk).exists()


def test_moderator_cannot_edit_conversations_messages_or_users(moderator_client, user):
    session = conversation(user, turns=1, title="Original")
    message = session.messages.first()
    edits = (
        (f"{SESSIONS}{session.pk}/change/", {"title": "Edited"}),
        (f"{MESSAGES}{message.pk}/change/", {"content": "Edited"}),
        (
            f"{USERS}{user.pk}/change/",
            {"username": user.username, "email": "new@example.com", "is_staff": "on"},
        ),
        (
            f"{USERS}{user.pk}/password/",
            {"password1": "N3w-pass-word!", "password2": "N3w-pass-word!"},
        ),
    )
    for url, data in edits:
        assert moderator_client.post(url, data).status_code == 403, url
    page = moderator_client.get(f"{MESSAGES}{message.pk}/change/").content.decode()
    assert 'name="content"' not in page and 'name="_save"' not in page
    session.refresh_from_db(), message.refresh_from_db(), user.refresh_from_db()
    assert session.title == "Original" and message.content == "question 0"
    assert user.email.endswith("@example.com") and user.email != "new@example.com"
    assert not user.is_staff and user.check_password(PASSWORD)


def test_moderator_cannot_see_groups_or_permissions(moderator_client):
    group = Group.objects.get(name="Moderators")
    for url in ("/admin/auth/group/", f"/admin/auth/group/{group.pk}/change/"):
        assert moderator_client.get(url).status_code == 403, url


def test_staff_without_the_group_can_do_none_of_it(client, user):
    staff = UserFactory(is_staff=True)
    client.force_login(staff)
    message = MessageFactory(session=conversation(user, turns=0))
    for url in (SESSIONS, MESSAGES, USERS):
        assert client.get(url).status_code == 403, url
    assert changelist_action(client, MESSAGES, "hide", [message]).status_code == 403
    assert changelist_action(client, USERS, "suspend", [user]).status_code == 403
    message.refresh_from_db(), user.refresh_from_db()
    assert not message.hidden and not user.chat_suspended
