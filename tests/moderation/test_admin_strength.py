"""The moderation admin's own code at its edges, called as admin calls it: the excerpt at
120 and 121 characters, flag categories, the notices' counts, a conversation's tree (levels
of nested branches, a second first message, the current branch) read in creation order
whatever the row order, the inline's formset and its one-query parents, the message counts
with an empty conversation and a second user's, every permission refused even to a
superuser, the hide and flag permissions of their own, and the owner-active filter's values."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import RequestFactory

from conversations import admin as conversation_admin
from conversations.admin import INDENT, MessageInline, OwnerActiveFilter
from conversations.models import ChatSession, Message
from tests.factories import ChatSessionFactory, UserFactory, conversation

pytestmark = pytest.mark.django_db

ARROW = "\u21b3 "


def request_by(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


@pytest.mark.parametrize(
    ("content", "excerpt"),
    [
        ("", ""),
        ("short text", "short text"),
        ("x" * 120, "x" * 120),
        ("x" * 121, "x" * 119 + "\u2026"),
        ("word " * 40, ("word " * 24).rstrip() + "\u2026"),
    ],
)
def test_the_excerpt_is_the_first_120_characters(content, excerpt):
    got = conversation_admin._excerpt(Message(content=content))
    assert got == excerpt
    assert len(got) <= 120


@pytest.mark.parametrize(
    ("categories", "shown"),
    [
        (["harassment", "violence"], "harassment, violence"),
        (["self-harm"], "self-harm"),
        ([], "-"),
        (None, "-"),
    ],
)
def test_flag_categories_are_listed_or_a_dash(categories, shown):
    assert conversation_admin._categories(Message(flag_categories=categories)) == shown


@pytest.mark.parametrize(
    ("number", "text"),
    [(0, "0 messages"), (1, "1 message"), (2, "2 messages"), (21, "21 messages")],
)
def test_notices_count_messages_in_singular_and_plural(number, text):
    assert conversation_admin._messages(number) == text


# name -> parent name; creation order is the order of this list.
TREE = [
    ("q1", None),
    ("a1", "q1"),
    ("q2", "a1"),
    ("a2", "q2"),
    ("a2 again", "q2"),
    ("q3", "a2 again"),
    ("a3", "q3"),
    ("a3 again", "q3"),
    ("q2 edited", "a1"),
    ("a2 edited", "q2 edited"),
    ("q1 edited", None),
    ("a1 of the edit", "q1 edited"),
    ("a1 again", "q1"),
]
LEVELS = {
    "q1": 0,
    "a1": 0,
    "q2": 0,
    "a2": 0,
    "a2 again": 1,
    "q3": 1,
    "a3": 1,
    "a3 again": 2,
    "q2 edited": 1,
    "a2 edited": 1,
    "q1 edited": 1,
    "a1 of the edit": 1,
    "a1 again": 1,
}


def stored_tree(session: ChatSession, salt: int) -> dict[str, Message]:
    """``TREE`` in ``session``, its rows inserted last first with ids sorting the same way,
    so that only ``sequence`` gives creation order."""
    by_name: dict[str, Message] = {}
    for sequence, (name, parent) in enumerate(TREE, start=1):
        by_name[name] = Message(
            id=uuid.UUID(int=(salt << 64) + 1000 - sequence),
            session=session,
            parent=by_name[parent] if parent else None,
            sequence=sequence,
            role="user",
            content=name,
        )
    Message.objects.bulk_create(reversed(list(by_name.values())))
    return by_name


@pytest.fixture
def trees(bystanders):
    user = UserFactory()
    session = ChatSessionFactory(user=user, title="Branched")
    other = ChatSessionFactory(user=UserFactory(), title="Another user's")
    tree = stored_tree(session, salt=1)
    other_tree = stored_tree(other, salt=2)
    conversation(user, turns=2)
    ChatSession.objects.filter(pk=session.pk).update(current_message=tree["a3 again"])
    ChatSession.objects.filter(pk=other.pk).update(current_message=other_tree["a1 again"])
    session.refresh_from_db()
    other.refresh_from_db()
    return SimpleNamespace(session=session, tree=tree, other=other, other_tree=other_tree)


def names_of(tree: dict[str, Message], ids) -> set[str]:
    by_id = {message.pk: name for name, message in tree.items()}
    return {by_id[pk] for pk in ids}


def test_the_tree_gives_each_message_its_level_and_the_current_branch(trees):
    found = conversation_admin._tree(trees.session.pk, trees.session.current_message_id)
    by_id = {message.pk: name for name, message in trees.tree.items()}
    assert {by_id[pk]: level for pk, level in found["levels"].items()} == LEVELS
    current = {"q1", "a1", "q2", "a2 again", "q3", "a3 again"}
    assert names_of(trees.tree, found["current"]) == current

    other = conversation_admin._tree(trees.other.pk, trees.other.current_message_id)
    assert names_of(trees.other_tree, other["current"]) == {"q1", "a1 again"}
    assert len(other["levels"]) == len(TREE)


def test_a_tree_without_a_current_message_marks_none(trees):
    found = conversation_admin._tree(trees.session.pk, None)
    assert found["current"] == set()
    assert len(found["levels"]) == len(TREE)
    assert conversation_admin._tree(uuid.uuid4(), None) == {"levels": {}, "current": set()}


def inline(superuser=None):
    return MessageInline(ChatSession, admin.site)


def test_the_formset_reads_the_tree_of_its_conversation(trees, superuser):
    rows = inline()
    rows.get_formset(request_by(superuser), trees.session)
    assert rows.tree == conversation_admin._tree(trees.session.pk, trees.session.current_message_id)
    marks = {name: rows.branch(message) for name, message in trees.tree.items()}
    assert marks["q1"] == "current"
    assert marks["a2"] == "-"
    assert marks["a2 again"] == f"{INDENT}{ARROW}current"
    assert marks["a3"] == f"{INDENT}{ARROW}-"
    assert marks["a3 again"] == f"{INDENT * 2}{ARROW}current"
    assert marks["q1 edited"] == f"{INDENT}{ARROW}-"
    hidden = trees.tree["a3"]
    hidden.hidden = True
    assert rows.branch(hidden) == f"{INDENT}{ARROW}hidden"
    trees.tree["q1"].hidden = True
    assert rows.branch(trees.tree["q1"]) == "current hidden"
    # A message the tree has not read (level 0 by default).
    assert rows.branch(Message(hidden=False)) == "-"

    rows.get_formset(request_by(superuser), None)
    assert rows.tree is None


def test_the_inline_reads_each_rows_parent_in_the_same_query(
    trees, superuser, django_assert_num_queries
):
    queryset = inline().get_queryset(request_by(superuser))
    with django_assert_num_queries(1):
        shown = [
            (message.content, inline().parent_sequence(message))
            for message in queryset.filter(session=trees.session).order_by("sequence")
        ]
    assert shown[:4] == [("q1", "-"), ("a1", "#1"), ("q2", "#2"), ("a2", "#3")]
    assert shown[-3:] == [("q1 edited", "-"), ("a1 of the edit", "#11"), ("a1 again", "#1")]


def test_the_conversation_list_counts_each_conversations_messages(superuser, bystanders):
    empty = ChatSessionFactory(user=superuser, title="Empty")
    two = conversation(superuser, turns=1, title="Two")
    four = conversation(UserFactory(), turns=2, title="Four")
    sessions = admin.site._registry[ChatSession].get_queryset(request_by(superuser))
    counts = {session.pk: session.message_count for session in sessions}
    assert counts == {
        empty.pk: 0,
        two.pk: 2,
        four.pk: 4,
        bystanders.session.pk: len(bystanders.messages),
    }


def test_nobody_adds_changes_or_deletes_messages_in_admin(superuser, trees):
    request = request_by(superuser)
    rows = inline()
    message = trees.tree["q1"]
    assert rows.has_add_permission(request, trees.session) is False
    assert rows.has_change_permission(request, trees.session) is False
    assert rows.has_delete_permission(request, trees.session) is False
    sessions = admin.site._registry[ChatSession]
    assert sessions.has_add_permission(request) is False
    assert sessions.has_change_permission(request, trees.session) is False
    assert sessions.has_change_permission(request) is False
    messages = admin.site._registry[Message]
    assert messages.has_add_permission(request) is False
    assert messages.has_change_permission(request, message) is False
    assert messages.has_delete_permission(request, message) is False
    assert messages.has_delete_permission(request) is False


@pytest.mark.parametrize(
    ("granted", "hide", "flag"),
    [
        ([], False, False),
        (["hide_message"], True, False),
        (["flag_message"], False, True),
        (["hide_message", "flag_message"], True, True),
    ],
)
def test_hiding_and_flagging_each_need_their_own_permission(granted, hide, flag):
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="conversations", codename__in=granted)
    )
    messages = admin.site._registry[Message]
    request = request_by(type(staff).objects.get(pk=staff.pk))
    assert messages.has_hide_permission(request) is hide
    assert messages.has_flag_permission(request) is flag


def owner_filter(value: str | None):
    params = {} if value is None else {"owner_active": [value]}
    sessions = admin.site._registry[ChatSession]
    return OwnerActiveFilter(request_by(None), params, ChatSession, sessions)


def test_the_owner_active_filter_offers_yes_and_no_and_filters_by_them():
    active = ChatSessionFactory(user=UserFactory(is_active=True), title="active owner")
    inactive = ChatSessionFactory(user=UserFactory(is_active=False), title="inactive owner")
    assert owner_filter(None).lookups(None, None) == [("yes", "Yes"), ("no", "No")]
    everything = ChatSession.objects.order_by("title")
    for value, expected in [
        ("yes", [active]),
        ("no", [inactive]),
        (None, [active, inactive]),
        ("maybe", [active, inactive]),
        ("Yes", [active, inactive]),
    ]:
        chosen = owner_filter(value)
        assert list(chosen.queryset(None, everything)) == expected, value
