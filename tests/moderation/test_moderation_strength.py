"""Moderators' actions as services (issue 23): exactly the messages asked for change, with
a second user's conversation in the database that must stay as it was; each change is
logged once, in order, with its sentence; messages already so are neither counted nor
logged; the export holds exactly the selected conversations, every field stated."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from attachments.models import MessageAttachment, StoredFile
from conversations import moderation
from conversations.models import ChatSession, Message
from sharing import services as sharing_services
from sharing.models import SharedMessage
from tests.factories import ChatSessionFactory, MessageFactory, UserFactory, conversation

pytestmark = pytest.mark.django_db


def messages_of(session) -> list[Message]:
    return list(Message.objects.filter(session=session).order_by("sequence"))


def log_of(model) -> list[tuple]:
    """The admin log entries about ``model``'s objects, oldest first."""
    kind = ContentType.objects.get_for_model(model)
    return list(
        LogEntry.objects.filter(content_type=kind)
        .order_by("pk")
        .values_list("user_id", "object_id", "action_flag", "change_message")
    )


def long_ago(messages: list[Message]) -> None:
    then = timezone.now() - timedelta(days=3)
    Message.objects.filter(pk__in=[m.pk for m in messages]).update(updated_at=then)


@pytest.mark.parametrize("as_queryset", [True, False])
def test_hiding_changes_the_messages_asked_for_and_logs_each_once_in_order(
    moderator, bystanders, as_queryset
):
    user = UserFactory()
    first, second = conversation(user, turns=2), conversation(user, turns=1)
    a1, a2, a3, a4 = messages_of(first)
    b1, b2 = messages_of(second)
    long_ago([a1, a2, a3, a4, b1, b2])
    Message.objects.filter(pk=a4.pk).update(hidden=True)
    asked = [b2, a3, a4, a1]
    if as_queryset:
        asked = Message.objects.filter(pk__in=[m.pk for m in asked])

    hidden = moderation.hide_messages(moderator=moderator, messages=asked)

    assert hidden == 3
    rows = dict(Message.objects.values_list("pk", "hidden"))
    assert [rows[m.pk] for m in (a1, a2, a3, a4, b1, b2)] == [True, False, True, True, False, True]
    recent = timezone.now() - timedelta(minutes=1)
    changed = set(Message.objects.filter(updated_at__gt=recent).values_list("pk", flat=True))
    assert changed == {a1.pk, a3.pk, b2.pk}
    # Ordered by conversation, then by sequence: the order every writer locks them in.
    in_order = sorted([(first.pk, a1), (first.pk, a3), (second.pk, b2)], key=lambda p: p[0])
    assert log_of(Message) == [
        (moderator.pk, str(message.pk), CHANGE, moderation.HID) for _, message in in_order
    ]
    assert bystanders.unchanged()


def test_unhiding_shows_the_hidden_ones_and_leaves_the_rest(moderator, bystanders):
    session = conversation(UserFactory(), turns=2)
    q1, a1, q2, a2 = messages_of(session)
    long_ago([q1, a1, q2, a2])
    Message.objects.filter(pk__in=[a1.pk, a2.pk]).update(hidden=True)

    shown = moderation.unhide_messages(moderator=moderator, messages=[q1, a1, a2])

    assert shown == 2
    assert list(
        Message.objects.filter(session=session).order_by("sequence").values_list("hidden")
    ) == [(False,), (False,), (False,), (False,)]
    assert log_of(Message) == [
        (moderator.pk, str(a1.pk), CHANGE, moderation.UNHID),
        (moderator.pk, str(a2.pk), CHANGE, moderation.UNHID),
    ]
    assert Message.objects.get(pk=q1.pk).updated_at < timezone.now() - timedelta(days=2)
    assert bystanders.unchanged()


def test_nothing_to_change_changes_and_logs_nothing(moderator, bystanders):
    session = conversation(UserFactory(), turns=1)

    assert moderation.unhide_messages(moderator=moderator, messages=messages_of(session)) == 0
    assert moderation.hide_messages(moderator=moderator, messages=[]) == 0
    assert moderation.unflag_messages(moderator=moderator, messages=messages_of(session)) == 0
    assert LogEntry.objects.count() == 0
    assert bystanders.unchanged()


def test_a_hidden_message_leaves_every_snapshot_and_the_others_stay(moderator, bystanders):
    user = UserFactory()
    session = conversation(user, turns=2)
    q1, a1, q2, a2 = messages_of(session)
    sharing_services.share_session(user=user, session_id=session.pk)

    moderation.hide_messages(moderator=moderator, messages=[a1])

    assert list(
        SharedMessage.objects.order_by("position").values_list("message_id", flat=True)
    ) == [
        q1.pk,
        q2.pk,
        a2.pk,
    ]


def test_flagging_flags_the_messages_and_their_conversations_only(moderator, bystanders):
    user = UserFactory()
    first, second, untouched = (conversation(user, turns=1) for _ in range(3))
    a1 = messages_of(first)[1]
    q2 = messages_of(second)[0]
    Message.objects.filter(pk=q2.pk).update(flagged=True)

    flagged = moderation.flag_messages(moderator=moderator, messages=[a1, q2])

    assert flagged == 1
    assert set(Message.objects.filter(flagged=True).values_list("pk", flat=True)) == {a1.pk, q2.pk}
    # q2 was flagged already: its conversation is not this action's.
    assert set(ChatSession.objects.filter(flagged=True).values_list("pk", flat=True)) == {first.pk}
    assert log_of(Message) == [(moderator.pk, str(a1.pk), CHANGE, moderation.FLAGGED)]
    assert not ChatSession.objects.get(pk=untouched.pk).flagged
    assert bystanders.unchanged()


def test_unflagging_clears_a_conversation_once_none_of_its_messages_is_flagged(
    moderator, bystanders
):
    user = UserFactory()
    cleared, still, other = (conversation(user, turns=1) for _ in range(3))
    c1, c2 = messages_of(cleared)
    s1, s2 = messages_of(still)
    Message.objects.filter(pk__in=[c1.pk, c2.pk, s1.pk, s2.pk]).update(flagged=True)
    # Flagged by hand, with no flagged message: not this action's to clear.
    ChatSession.objects.filter(pk__in=[cleared.pk, still.pk, other.pk]).update(flagged=True)

    unflagged = moderation.unflag_messages(moderator=moderator, messages=[c1, c2, s1])

    assert unflagged == 3
    assert set(Message.objects.filter(flagged=True).values_list("pk", flat=True)) == {s2.pk}
    assert set(ChatSession.objects.filter(flagged=True).values_list("pk", flat=True)) == {
        still.pk,
        other.pk,
    }
    assert log_of(Message) == [
        (moderator.pk, str(message.pk), CHANGE, moderation.UNFLAGGED)
        for message in sorted([c1, c2, s1], key=lambda m: (m.session_id, m.sequence))
    ]
    assert bystanders.unchanged()


def attach(message: Message, name: str) -> StoredFile:
    stored = StoredFile.objects.create(
        owner=message.session.user,
        name=name,
        size=1200,
        content_type="text/plain",
        kind="document",
        sha256="0" * 64,
        key=f"key-{name}",
    )
    MessageAttachment.objects.create(message=message, file=stored, position=0)
    return stored


def test_the_export_holds_exactly_the_selected_conversations_every_field_stated(
    moderator, bystanders
):
    user = UserFactory(username="owner-one")
    older = ChatSessionFactory(
        user=user, title="Older", model="m-1", instructions="Be brief.", flagged=True
    )
    # Only users' messages have files; a hidden one's are exported too.
    question = MessageFactory(session=older, role="user", content="secret", hidden=True)
    stored = attach(question, "notes.txt")
    reply = MessageFactory(session=older, role="assistant", content="hello", model="m-1")
    Message.objects.filter(pk=reply.pk).update(flagged=True, flag_categories=["harassment"])
    newer = conversation(user, turns=1, title="Newer")
    conversation(user, turns=1, title="Not selected")
    created = timezone.now() - timedelta(days=1)
    ChatSession.objects.filter(pk=older.pk).update(created_at=created)
    older.refresh_from_db()
    question.refresh_from_db()
    reply.refresh_from_db()

    exported = moderation.export_sessions(
        moderator=moderator, sessions=ChatSession.objects.filter(title__in=["Older", "Newer"])
    )

    assert [session["title"] for session in exported] == ["Newer", "Older"]
    assert exported[1] == {
        "sessionId": str(older.pk),
        "title": "Older",
        "owner": {"id": user.pk, "username": "owner-one"},
        "model": "m-1",
        "instructions": "Be brief.",
        "flagged": True,
        "createdAt": created.isoformat(),
        "updatedAt": older.updated_at.isoformat(),
        "messages": [
            {
                "messageId": str(question.pk),
                "parentId": None,
                "sequence": 1,
                "role": "user",
                "content": "secret",
                "status": "complete",
                "model": "",
                "flagged": False,
                "flagCategories": question.flag_categories,
                "moderationFailed": False,
                "hidden": True,
                "createdAt": question.created_at.isoformat(),
                "attachments": [
                    {
                        "fileId": str(stored.pk),
                        "name": "notes.txt",
                        "size": 1200,
                        "contentType": "text/plain",
                        "kind": "document",
                    }
                ],
            },
            {
                "messageId": str(reply.pk),
                "parentId": str(question.pk),
                "sequence": 2,
                "role": "assistant",
                "content": "hello",
                "status": "complete",
                "model": "m-1",
                "flagged": True,
                "flagCategories": ["harassment"],
                "moderationFailed": False,
                "hidden": False,
                "createdAt": reply.created_at.isoformat(),
                "attachments": [],
            },
        ],
    }
    assert [m["sequence"] for m in exported[0]["messages"]] == [1, 2]
    assert exported[0]["sessionId"] == str(newer.pk)
    assert bystanders.words[0] not in str(exported)
    assert log_of(ChatSession) == [
        (moderator.pk, str(newer.pk), CHANGE, moderation.EXPORTED),
        (moderator.pk, str(older.pk), CHANGE, moderation.EXPORTED),
    ]


def test_the_export_reads_files_in_one_query_whatever_the_number_of_messages(moderator):
    user = UserFactory()

    def queries(count: int) -> int:
        ChatSession.objects.all().delete()
        for _ in range(count):
            session = conversation(user, turns=2)
            attach(messages_of(session)[0], f"file-{session.pk}")
        with CaptureQueriesContext(connection) as captured:
            moderation.export_sessions(moderator=moderator, sessions=ChatSession.objects.all())
        return len(captured)

    queries(1)  # the content types, read once per process

    assert queries(1) == queries(4)


def test_nothing_selected_exports_and_logs_nothing(moderator, bystanders):
    assert (
        moderation.export_sessions(moderator=moderator, sessions=ChatSession.objects.none()) == []
    )
    assert LogEntry.objects.count() == 0


def test_changes_are_logged_in_sequence_order_whatever_the_order_rows_were_written(moderator):
    session = conversation(UserFactory(), turns=0)
    # Written last to first: the table's own order is not the conversation's.
    later = MessageFactory(session=session, sequence=9, parent=None)
    middle = MessageFactory(session=session, sequence=5, parent=None)
    first = MessageFactory(session=session, sequence=2, parent=None)

    moderation.flag_messages(moderator=moderator, messages=[later, first, middle])

    assert log_of(Message) == [
        (moderator.pk, str(message.pk), CHANGE, moderation.FLAGGED)
        for message in (first, middle, later)
    ]


def test_conversations_created_at_once_export_by_id_newest_first(moderator):
    user = UserFactory()
    at = timezone.now()
    # Written in ascending id order, so the table's own order is the opposite of the export's.
    for number in (1, 2, 3):
        ChatSessionFactory(id=uuid.UUID(int=number), user=user, created_at=at)

    exported = moderation.export_sessions(moderator=moderator, sessions=ChatSession.objects.all())

    assert [session["sessionId"] for session in exported] == [
        str(uuid.UUID(int=number)) for number in (3, 2, 1)
    ]


def test_the_export_is_newest_conversation_first_whatever_the_ids(moderator):
    user = UserFactory()
    now = timezone.now()
    # The older conversation has the greater id: ordering by id alone puts it first.
    ChatSessionFactory(id=uuid.UUID(int=9), user=user, created_at=now - timedelta(days=2))
    ChatSessionFactory(id=uuid.UUID(int=1), user=user, created_at=now)

    exported = moderation.export_sessions(moderator=moderator, sessions=ChatSession.objects.all())

    assert [session["sessionId"] for session in exported] == [
        str(uuid.UUID(int=1)),
        str(uuid.UUID(int=9)),
    ]
