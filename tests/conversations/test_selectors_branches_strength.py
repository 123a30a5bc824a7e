"""The branch walks of selectors (issue 14) on trees with several branches: the current
branch oldest first and nothing of its other branches, of the user's other conversation or of
a second user's; the newest leaf under a message (the newest child at each step, not the
deepest leaf nor the newest message of the conversation); exact ids and order.

Messages are stored at once in reverse creation order, with ids that sort against it, so
that an order other than ``sequence`` (row order, id order) shows."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest

from conversations import selectors
from conversations.models import ChatSession, Message
from tests.factories import ChatSessionFactory, UserFactory, conversation

pytestmark = pytest.mark.django_db

# name -> (parent name, role); creation order is the order of this list.
TREE = [
    ("q1", None, "user"),
    ("a1", "q1", "assistant"),
    ("q2", "a1", "user"),
    ("a2", "q2", "assistant"),
    ("q3", "a2", "user"),
    ("a3", "q3", "assistant"),
    ("q2 edited", "a1", "user"),
    ("a2 edited", "q2 edited", "assistant"),
    ("a1 again", "q1", "assistant"),
    ("q4", "a2 edited", "user"),
    ("a4", "q4", "assistant"),
    ("a4 again", "q4", "assistant"),
]


def stored_tree(session: ChatSession, *, current: str | None, salt: int) -> dict[str, Message]:
    """``TREE`` in ``session``: sequences in list order, ids sorting in reverse of it, rows
    inserted last message first; ``current`` made the current leaf."""
    by_name: dict[str, Message] = {}
    for sequence, (name, parent, role) in enumerate(TREE, start=1):
        by_name[name] = Message(
            id=uuid.UUID(int=(salt << 64) + 1000 - sequence),
            session=session,
            parent=by_name[parent] if parent else None,
            sequence=sequence,
            role=role,
            content=f"{name} ({salt})",
        )
    Message.objects.bulk_create(reversed(list(by_name.values())))
    ChatSession.objects.filter(pk=session.pk).update(
        current_message=by_name[current] if current else None
    )
    session.refresh_from_db()
    return by_name


@pytest.fixture
def trees(bystanders):
    """The same tree in the user's conversation (current: "a2 edited") and in their other
    conversation (current: "a3"), a second user's conversation with its own tree too (current:
    "a4 again"), and the bystanders' conversation."""
    user = UserFactory()
    mine = ChatSessionFactory(user=user, title="mine")
    other = ChatSessionFactory(user=user, title="other")
    stranger = ChatSessionFactory(user=UserFactory(), title="stranger")
    return SimpleNamespace(
        user=user,
        mine=mine,
        other=other,
        stranger=stranger,
        m=stored_tree(mine, current="a2 edited", salt=1),
        o=stored_tree(other, current="a3", salt=2),
        s=stored_tree(stranger, current="a4 again", salt=3),
        bystanders=bystanders,
    )


def ids(messages) -> list:
    return [message.pk for message in messages]


def test_the_current_branch_is_its_path_from_the_first_message_oldest_first(trees):
    branch = list(selectors.branch_messages(trees.mine))
    assert ids(branch) == [trees.m[name].pk for name in ("q1", "a1", "q2 edited", "a2 edited")]
    assert [m.content for m in branch] == ["q1 (1)", "a1 (1)", "q2 edited (1)", "a2 edited (1)"]
    assert [m.sequence for m in branch] == [1, 2, 7, 8]


def test_each_conversation_has_its_own_current_branch(trees):
    assert ids(selectors.branch_messages(trees.other)) == [
        trees.o[name].pk for name in ("q1", "a1", "q2", "a2", "q3", "a3")
    ]
    assert ids(selectors.branch_messages(trees.stranger)) == [
        trees.s[name].pk for name in ("q1", "a1", "q2 edited", "a2 edited", "q4", "a4 again")
    ]
    bystanders = trees.bystanders
    assert ids(selectors.branch_messages(bystanders.session)) == ids(bystanders.messages)


def test_a_branch_ending_on_a_first_message_or_an_inner_one_stops_there(trees):
    for leaf, path in [
        ("q1", ["q1"]),
        ("a1 again", ["q1", "a1 again"]),
        ("q4", ["q1", "a1", "q2 edited", "a2 edited", "q4"]),
        ("a2", ["q1", "a1", "q2", "a2"]),
    ]:
        ChatSession.objects.filter(pk=trees.mine.pk).update(current_message=trees.m[leaf])
        trees.mine.refresh_from_db()
        assert ids(selectors.branch_messages(trees.mine)) == [trees.m[name].pk for name in path]


def test_a_conversation_without_a_current_message_has_an_empty_branch(trees):
    empty = ChatSessionFactory(user=trees.user)
    unset = ChatSessionFactory(user=trees.user)
    stored_tree(unset, current=None, salt=4)
    for session in (empty, unset):
        assert session.current_message_id is None
        assert list(selectors.branch_messages(session)) == []


def test_the_branch_is_read_in_one_query_and_ordered_by_sequence(trees, django_assert_num_queries):
    with django_assert_num_queries(1):
        branch = list(selectors.branch_messages(trees.stranger))
    assert [m.sequence for m in branch] == [1, 2, 7, 8, 10, 12]
    assert all(m.session_id == trees.stranger.pk for m in branch)


def test_messages_for_session_reads_the_owners_current_branch_or_the_whole_tree(trees):
    branch = selectors.messages_for_session(user=trees.user, session_id=trees.other.pk)
    assert [m.content for m in branch] == [f"{name} (2)" for name in ("q1", "a1", "q2")] + [
        f"{name} (2)" for name in ("a2", "q3", "a3")
    ]
    every = selectors.messages_for_session(
        user=trees.user, session_id=trees.other.pk, every_branch=True
    )
    assert [m.content for m in every] == [f"{name} (2)" for name, _, _ in TREE]


@pytest.mark.parametrize(
    ("start", "leaf"),
    [
        # The newest child of q1 is "a1 again", a leaf: not the deeper leaves under a1.
        ("q1", "a1 again"),
        # Under a1: "q2 edited" (newer than q2), then its only child, then q4's newest.
        ("a1", "a4 again"),
        ("q2 edited", "a4 again"),
        ("q4", "a4 again"),
        # The old branch under q2 has one child per step down to a3.
        ("q2", "a3"),
        ("a2", "a3"),
        # A leaf is its own newest leaf.
        ("a3", "a3"),
        ("a4", "a4"),
        ("a1 again", "a1 again"),
    ],
)
def test_the_newest_leaf_under_a_message_takes_the_newest_child_at_each_step(
    trees, start, leaf, django_assert_num_queries
):
    with django_assert_num_queries(1):
        found = selectors.newest_leaf_under(trees.m[start])
    assert found == trees.m[leaf].pk
    assert isinstance(found, uuid.UUID)
    # The same names in the other conversations are their own messages.
    assert selectors.newest_leaf_under(trees.o[start]) == trees.o[leaf].pk
    assert selectors.newest_leaf_under(trees.s[start]) == trees.s[leaf].pk


def test_the_newest_leaf_ignores_children_made_later_elsewhere(trees):
    # A newer message of another conversation (the user's own, with a parent id of theirs
    # nowhere near) and newer bystander messages change nothing.
    conversation(trees.user, turns=2)
    conversation(trees.bystanders.user, turns=1)
    assert selectors.newest_leaf_under(trees.m["q1"]) == trees.m["a1 again"].pk
    assert selectors.newest_leaf_under(trees.m["q2"]) == trees.m["a3"].pk
    first = trees.bystanders.messages[0]
    assert selectors.newest_leaf_under(first) == trees.bystanders.stale_reply.pk
