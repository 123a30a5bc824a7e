"""Conversations, messages and users in admin: lists, search, filters, read-only content,
moderation actions recorded in the admin log, and the JSON export."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from conversations.models import ChatSession, Message
from tests.factories import ChatSessionFactory, MessageFactory, UserFactory, conversation
from tests.moderation.admin_actions import changelist_action

pytestmark = pytest.mark.django_db

SESSIONS = "/admin/conversations/chatsession/"
MESSAGES = "/admin/conversations/message/"
USERS = "/admin/accounts/user/"


def listed(response) -> list:
    return list(response.context["cl"].result_list)


def history(client, url: str) -> str:
    """The History page of the object whose admin page is ``url`` (".../<pk>/")."""
    response = client.get(url + "history/")
    assert response.status_code == 200
    return response.content.decode()


# --- Conversations ----------------------------------------------------------------------


def test_conversation_list_shows_owner_title_count_dates_and_flag_newest_first(
    moderator_client, user
):
    old = conversation(user, turns=2, title="Older chat")
    ChatSession.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    new = conversation(user, turns=1, title="Newer chat", flagged=True)
    response = moderator_client.get(SESSIONS)
    assert [s.pk for s in listed(response)] == [new.pk, old.pk]
    assert [s.message_count for s in listed(response)] == [2, 4]
    page = response.content.decode()
    for text in ("Newer chat", "Older chat", user.username, "Messages", "Created at", "Flagged"):
        assert text in page


@pytest.mark.parametrize(
    "query", ["needle title", "needle_owner", "needle@mail.example", "needle in text"]
)
def test_conversation_search_by_title_owner_email_and_message_text(moderator_client, query):
    owner = UserFactory(username="needle_owner", email="needle@mail.example")
    match = ChatSessionFactory(user=owner, title="a needle title")
    MessageFactory(session=match, content="the needle in text, once")
    MessageFactory(session=match, content="and the needle in text, twice")
    ChatSessionFactory(title="something else")
    response = moderator_client.get(SESSIONS, {"q": query})
    # Two matching messages still list the conversation once.
    assert [s.pk for s in listed(response)] == [match.pk]


def test_conversation_filters_flagged_and_owner_active(moderator_client):
    flagged = ChatSessionFactory(flagged=True)
    inactive = ChatSessionFactory(user=UserFactory(is_active=False))
    response = moderator_client.get(SESSIONS, {"flagged__exact": "1"})
    assert [s.pk for s in listed(response)] == [flagged.pk]
    response = moderator_client.get(SESSIONS, {"owner_active": "no"})
    assert [s.pk for s in listed(response)] == [inactive.pk]
    response = moderator_client.get(SESSIONS, {"owner_active": "yes"})
    assert inactive.pk not in [s.pk for s in listed(response)]


def test_conversation_filters_by_dates(moderator_client):
    old = ChatSessionFactory()
    ChatSession.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=60),
        updated_at=timezone.now() - timedelta(days=60),
    )
    recent = ChatSessionFactory()
    # The format of the filter's own "Past 7 days" link.
    week_ago = str(
        (timezone.now() - timedelta(days=7)).replace(hour=0, minute=0, second=0, microsecond=0)
    )
    for field in ("created_at", "updated_at"):
        response = moderator_client.get(SESSIONS, {f"{field}__gte": week_ago})
        assert [s.pk for s in listed(response)] == [recent.pk], field


def test_conversation_page_lists_its_messages_in_order_read_only(superuser_client, user):
    session = conversation(user, turns=2)
    flagged = session.messages.get(sequence=3)
    flagged.flagged, flagged.flag_categories = True, ["harassment"]
    flagged.save()
    response = superuser_client.get(f"{SESSIONS}{session.pk}/change/")
    assert response.status_code == 200
    inline = response.context["inline_admin_formsets"][0]
    assert [form.original.sequence for form in inline] == [1, 2, 3, 4]
    assert not inline.has_add_permission and not inline.has_delete_permission
    assert not inline.has_change_permission
    page = response.content.decode()
    assert page.index("question 0") < page.index("answer 0") < page.index("question 1")
    assert "harassment" in page
    for field in ("content", "title", "messages-0-role", "messages-0-DELETE"):
        assert f'name="{field}"' not in page


def test_conversation_list_costs_the_same_queries_for_1_or_500_conversations(moderator_client):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = moderator_client.get(SESSIONS)
        assert response.status_code == 200
        return len(queries), len(listed(response))

    conversation(UserFactory(), turns=2)
    moderator_client.get(SESSIONS)  # a browser session's first request records it (Sessions)
    one, rows = count_queries()
    assert rows == 1
    owners = User.objects.bulk_create(
        User(username=f"owner{i}", email=f"owner{i}@example.com") for i in range(499)
    )
    sessions = ChatSession.objects.bulk_create(
        ChatSession(user=owner, title=f"chat {i}") for i, owner in enumerate(owners)
    )
    Message.objects.bulk_create(
        Message(session=session, sequence=n, role="user", content="hi")
        for session in sessions
        for n in (1, 2)
    )
    many, rows = count_queries()
    assert rows == 100  # a full page
    assert many == one


def test_superuser_may_delete_conversations_but_nobody_edits_them(superuser_client, user):
    session = conversation(user, turns=1, title="Original")
    response = superuser_client.get(SESSIONS)
    assert "delete_selected" in dict(response.context["action_form"].fields["action"].choices)
    assert superuser_client.get(f"{SESSIONS}add/").status_code == 403
    assert (
        superuser_client.post(f"{SESSIONS}{session.pk}/change/", {"title": "X"}).status_code == 403
    )
    session.refresh_from_db()
    assert session.title == "Original"


# --- Messages ---------------------------------------------------------------------------


def test_message_list_filters_by_role_status_flagged_and_hidden(moderator_client, user):
    session = conversation(user, turns=0)
    plain = MessageFactory(session=session)
    reply = MessageFactory(session=session, role="assistant", status="failed")
    flagged = MessageFactory(session=session, flagged=True)
    hidden = MessageFactory(session=session, hidden=True)
    cases = {
        "role__exact": ("assistant", [reply]),
        "status__exact": ("failed", [reply]),
        "flagged__exact": ("1", [flagged]),
        "hidden__exact": ("1", [hidden]),
    }
    for parameter, (value, expected) in cases.items():
        response = moderator_client.get(MESSAGES, {parameter: value})
        assert [m.pk for m in listed(response)] == [m.pk for m in expected], parameter
    response = moderator_client.get(MESSAGES)
    assert {m.pk for m in listed(response)} == {plain.pk, reply.pk, flagged.pk, hidden.pk}


def test_message_search_by_text_and_owner(moderator_client):
    owner = UserFactory(username="findme_owner")
    wanted = MessageFactory(session=ChatSessionFactory(user=owner), content="unremarkable")
    text_match = MessageFactory(content="a rare phrase here")
    MessageFactory(content="nothing to see")
    assert [m.pk for m in listed(moderator_client.get(MESSAGES, {"q": "rare phrase"}))] == [
        text_match.pk
    ]
    assert [m.pk for m in listed(moderator_client.get(MESSAGES, {"q": "findme_owner"}))] == [
        wanted.pk
    ]


def test_message_content_is_read_only_even_for_superusers(superuser_client):
    message = MessageFactory(content="what the user said")
    url = f"{MESSAGES}{message.pk}/change/"
    page = superuser_client.get(url).content.decode()
    assert "what the user said" in page
    assert 'name="content"' not in page and 'name="_save"' not in page
    assert superuser_client.post(url, {"content": "words put in their mouth"}).status_code == 403
    assert superuser_client.get(f"{MESSAGES}add/").status_code == 403
    assert superuser_client.get(f"{MESSAGES}{message.pk}/delete/").status_code == 403
    message.refresh_from_db()
    assert message.content == "what the user said"


def test_hide_and_unhide_are_recorded_in_the_message_history(moderator_client, moderator):
    message = MessageFactory()
    url = f"{MESSAGES}{message.pk}/"
    response = changelist_action(moderator_client, MESSAGES, "hide", [message])
    assert response.status_code == 302
    message.refresh_from_db()
    assert message.hidden
    # Hiding again changes nothing and records nothing.
    changelist_action(moderator_client, MESSAGES, "hide", [message])
    changelist_action(moderator_client, MESSAGES, "unhide", [message])
    message.refresh_from_db()
    assert not message.hidden
    entries = LogEntry.objects.filter(object_id=str(message.pk)).order_by("action_time", "pk")
    assert [(e.user_id, e.get_change_message()) for e in entries] == [
        (moderator.pk, "Hid the message."),
        (moderator.pk, "Unhid the message."),
    ]
    page = history(moderator_client, url)
    assert "Hid the message." in page and "Unhid the message." in page
    assert moderator.username in page


def test_flag_marks_the_conversation_and_unflag_clears_it_once_none_is_left(moderator_client, user):
    session = conversation(user, turns=1)
    first, second = session.messages.order_by("sequence")
    changelist_action(moderator_client, MESSAGES, "flag", [first, second])
    session.refresh_from_db()
    assert session.flagged
    assert set(Message.objects.filter(session=session).values_list("flagged", flat=True)) == {True}
    changelist_action(moderator_client, MESSAGES, "unflag", [first])
    session.refresh_from_db()
    assert session.flagged, "the second message is still flagged"
    changelist_action(moderator_client, MESSAGES, "unflag", [second])
    session.refresh_from_db()
    assert not session.flagged
    page = history(moderator_client, f"{MESSAGES}{second.pk}/")
    assert "Flagged the message for review." in page and "Cleared the message&#x27;s flag." in page


# --- Users ------------------------------------------------------------------------------


def test_suspend_and_restore_are_recorded_in_the_user_history(moderator_client, moderator, user):
    changelist_action(moderator_client, USERS, "suspend", [user])
    user.refresh_from_db()
    assert user.chat_suspended and user.is_active, "a suspended user can still log in"
    changelist_action(moderator_client, USERS, "restore", [user])
    user.refresh_from_db()
    assert not user.chat_suspended
    page = history(moderator_client, f"{USERS}{user.pk}/")
    assert "Suspended chat access." in page and "Restored chat access." in page


def test_superuser_still_has_the_full_user_admin(superuser_client, user):
    page = superuser_client.get(f"{USERS}{user.pk}/change/").content.decode()
    for field in ("username", "email", "is_staff", "groups", "chat_suspended"):
        assert f'name="{field}"' in page


# --- Export -----------------------------------------------------------------------------


def test_export_downloads_selected_conversations_with_their_messages(moderator_client, user):
    session = conversation(user, turns=1, title="Exported <chat>")
    hidden = session.messages.get(sequence=2)
    hidden.hidden = True
    hidden.save()
    conversation(user, turns=1, title="Not selected")
    response = changelist_action(moderator_client, SESSIONS, "export_json", [session])
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith('attachment; filename="conversations-')
    data = json.loads(response.content)
    [exported] = data["conversations"]
    assert exported["sessionId"] == str(session.pk)
    assert exported["title"] == "Exported <chat>"
    assert exported["owner"] == {"id": user.pk, "username": user.username}
    assert [
        (m["sequence"], m["role"], m["content"], m["hidden"]) for m in exported["messages"]
    ] == [
        (1, "user", "question 0", False),
        (2, "assistant", "answer 0", True),
    ]
    assert LogEntry.objects.get(object_id=str(session.pk)).get_change_message() == (
        "Exported as JSON."
    )


def test_export_costs_the_same_queries_for_1_or_50_conversations(moderator_client, user):
    def count_queries(sessions) -> int:
        with CaptureQueriesContext(connection) as queries:
            response = changelist_action(moderator_client, SESSIONS, "export_json", sessions)
        assert len(response.json()["conversations"]) == len(sessions)
        return len(queries)

    first = conversation(user, turns=2)
    count_queries([first])  # warms the content type cache the admin log uses
    one = count_queries([first])
    many = count_queries([conversation(UserFactory(), turns=2) for _ in range(50)])
    assert many == one


def test_message_list_costs_the_same_queries_for_1_or_150_messages(moderator_client):
    def count_queries() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            response = moderator_client.get(MESSAGES)
        return len(queries), len(listed(response))

    MessageFactory()
    moderator_client.get(MESSAGES)  # a browser session's first request records it (Sessions)
    one, rows = count_queries()
    assert rows == 1
    owners = User.objects.bulk_create(User(username=f"writer{i}") for i in range(150))
    sessions = ChatSession.objects.bulk_create(ChatSession(user=owner) for owner in owners)
    Message.objects.bulk_create(
        Message(session=session, sequence=1, role="user", content="hi") for session in sessions
    )
    many, rows = count_queries()
    assert rows == 100
    assert many == one


def test_actions_say_how_many_objects_changed(moderator_client, user):
    def notices(url: str) -> list[str]:
        return [str(notice) for notice in moderator_client.get(url).context["messages"]]

    first, second = MessageFactory(), MessageFactory(hidden=True)
    changelist_action(moderator_client, MESSAGES, "hide", [first, second])
    assert notices(MESSAGES) == ["1 message hidden."]
    changelist_action(moderator_client, USERS, "suspend", [user])
    assert notices(USERS) == ["1 user suspended; they can still log in and read."]
