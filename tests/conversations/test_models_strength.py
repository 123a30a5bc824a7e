"""The models' own code at its edges: each ``__str__``; ``jump_depth`` by its definition at
every depth up to 300; ``place_messages`` for batches in any order, under stored messages at
any depth (with the one read they cost), beside stored ones on the same line; ``save`` and
``bulk_create`` placing only what they add, with the batch size asked for."""

from __future__ import annotations

import sys

import pytest
from django.db import IntegrityError, transaction
from django.utils.deprecation import RemovedInDjango60Warning

from conversations.models import (
    ChatSession,
    IdempotencyKey,
    Message,
    jump_depth,
    place_messages,
)
from tests.factories import ChatSessionFactory, MessageFactory, UserFactory


def defined_jump_depth(depth: int) -> int | None:
    """Myers' skew-binary jump by its definition: the depth of the jump of a message at
    ``depth`` on one line, where the jump of a child of ``p`` is ``p.jump.jump`` when
    ``p`` to ``p.jump`` spans as much as ``p.jump`` to ``p.jump.jump``, else ``p``."""
    jumps: list[int | None] = [None]
    for child in range(1, depth + 1):
        parent = child - 1
        up = jumps[parent]
        upper = jumps[up] if up is not None else None
        if up is not None and upper is not None and parent - up == up - upper:
            jumps.append(upper)
        else:
            jumps.append(parent)
    return jumps[depth]


class Steps:
    """Counts the lines ``jump_depth`` runs (whatever its function is named) and stops it
    past ``limit``: its loop takes one step per term of the sum, at most one per bit of the
    depth, so a loop that never ends fails the test instead of hanging it."""

    def __init__(self, limit: int) -> None:
        self.limit, self.count = limit, 0

    def __enter__(self) -> Steps:
        sys.settrace(self.trace)
        return self

    def __exit__(self, *exc_info) -> None:
        sys.settrace(None)

    def trace(self, frame, event, arg):
        if "jump_depth" not in frame.f_code.co_name:
            return None
        if event == "line":
            self.count += 1
            if self.count > self.limit:
                raise AssertionError(f"jump_depth ran more than {self.limit} lines")
        return self.trace


def bounded_jump_depth(depth: int) -> int | None:
    # Four lines per term and a few more: a depth under 2**21 has at most 21 terms.
    with Steps(limit=4 * 21 + 10):
        return jump_depth(depth)


def test_jump_depth_is_the_definitions_at_every_depth():
    assert bounded_jump_depth(0) is None
    assert [bounded_jump_depth(d) for d in range(1, 301)] == [
        defined_jump_depth(d) for d in range(1, 301)
    ]
    # Each 2**k - 1 jumps to the first message; the one after it to its parent.
    for k in range(1, 12):
        assert bounded_jump_depth(2**k - 1) == 0
        assert bounded_jump_depth(2**k) == 2**k - 1
    assert bounded_jump_depth(10**6) == defined_jump_depth(10**6)


def test_each_model_names_itself():
    session = ChatSession(title="Trip to Lisbon")
    assert str(session) == "Trip to Lisbon"
    assert str(ChatSession(title="")) == "New chat"
    assert str(Message(role="assistant", sequence=12)) == "assistant #12"
    assert str(IdempotencyKey(key="retry-7f3a")) == "retry-7f3a"
    assert Message(status="complete").is_final is True
    assert Message(status="streaming").is_final is False
    assert Message(status="failed").is_final is True


def line(session: ChatSession, length: int) -> list[Message]:
    """``length`` messages stored one by one, each following the one before."""
    stored: list[Message] = []
    for n in range(length):
        stored.append(
            Message.objects.create(
                session=session,
                parent=stored[-1] if stored else None,
                sequence=n + 1,
                role="user" if n % 2 == 0 else "assistant",
            )
        )
    return stored


def expected_jump(parent: Message, by_id: dict) -> object:
    """The jump of a new child of ``parent`` by the definition, from stored places."""
    up = by_id.get(parent.jump_id)
    upper = by_id.get(up.jump_id) if up is not None else None
    if up is not None and upper is not None and parent.depth - up.depth == up.depth - upper.depth:
        return upper.pk
    return parent.pk


@pytest.mark.django_db
def test_messages_saved_one_by_one_get_their_depth_and_jump():
    stored = line(ChatSessionFactory(), 40)
    for depth, message in enumerate(stored):
        message.refresh_from_db()
        assert message.depth == depth
        expected = defined_jump_depth(depth)
        assert (message.jump.depth if message.jump_id else None) == expected
        if expected is not None:
            assert message.jump == stored[expected]


@pytest.mark.django_db
def test_a_turn_under_a_stored_message_at_any_depth_costs_one_read(django_assert_num_queries):
    session = ChatSessionFactory()
    stored = line(session, 64)
    by_id = {m.pk: m for m in Message.objects.filter(session=session)}
    for parent in by_id.values():
        question = Message(session=session, parent_id=parent.pk, sequence=1000, role="user")
        reply = Message(session=session, parent=question, sequence=1001, role="assistant")
        with django_assert_num_queries(1):
            place_messages([question, reply])
        assert question.depth == parent.depth + 1
        assert question.jump_id == expected_jump(parent, by_id)
        # The reply's jump, by the definition from the question just placed.
        by_id[question.pk] = question
        assert reply.depth == parent.depth + 2
        assert reply.jump_id == expected_jump(question, by_id)
        del by_id[question.pk]
    assert len(stored) == 64


@pytest.mark.django_db
def test_a_batch_under_several_stored_messages_of_one_line_places_each():
    # The first child read fills in its parent's jumps: a second child under one of those
    # jumps must get the jumps' own depths, not their children's.
    session = ChatSessionFactory()
    stored = line(session, 48)
    by_id = {m.pk: m for m in Message.objects.filter(session=session)}
    ordered = sorted(by_id.values(), key=lambda m: m.depth)
    for low in ordered:
        for high in ordered[low.depth :: 5]:
            children = [
                Message(session=session, parent_id=high.pk, sequence=2000, role="user"),
                Message(session=session, parent_id=low.pk, sequence=2001, role="user"),
            ]
            place_messages(children)
            assert [(c.depth, c.jump_id) for c in children] == [
                (high.depth + 1, expected_jump(high, by_id)),
                (low.depth + 1, expected_jump(low, by_id)),
            ]
    assert len(stored) == 48


@pytest.mark.django_db
def test_a_batch_listed_children_first_is_placed_as_in_creation_order():
    session = ChatSessionFactory()
    stored = line(session, 5)
    one_by_one = line(ChatSessionFactory(user=session.user), 30)
    new = [Message(session=session, sequence=6, role="user", parent=stored[-1])]
    for n in range(24):
        new.append(Message(session=session, sequence=7 + n, role="user", parent=new[-1]))
    place_messages(list(reversed(new)))
    # The same line stored one message at a time, from depth 5 on.
    sequences = {m.pk: m.sequence for m in [*stored, *new]}
    assert [(m.depth, sequences[m.jump_id]) for m in new] == [
        (m.depth, m.jump_id and m.jump.sequence) for m in one_by_one[5:]
    ]
    first = [Message(session=session, sequence=100, role="user")]
    first.append(Message(session=session, sequence=101, role="user", parent=first[0]))
    place_messages(first[::-1])
    assert [(m.depth, m.jump_id) for m in first] == [(0, None), (1, first[0].pk)]


@pytest.mark.django_db
def test_messages_already_placed_are_left_as_they_are():
    session = ChatSessionFactory()
    stored = line(session, 3)
    # A depth given beforehand is kept (a child of depth 8 jumps to its parent).
    given = Message(session=session, sequence=4, role="user", parent=stored[-1], depth=7)
    child = Message(session=session, sequence=5, role="user", parent=given)
    place_messages([given, child])
    assert (given.depth, given.jump_id) == (7, None)
    assert (child.depth, child.jump_id) == (8, given.pk)
    # Saving one that is placed keeps its place too.
    kept = Message(session=session, sequence=6, role="user", parent=stored[0], depth=7)
    kept.save()
    kept.refresh_from_db()
    assert (kept.depth, kept.jump_id) == (7, None)


@pytest.mark.django_db
def test_a_stored_message_is_never_placed_again_on_save():
    session = ChatSessionFactory()
    stored = line(session, 4)
    message = Message.objects.get(pk=stored[-1].pk)
    message.content = "changed"
    message.save()
    message.refresh_from_db()
    assert (message.depth, message.jump_id, message.content) == (3, stored[0].pk, "changed")
    # Its depth is set once, when added: a stored one without it is refused, not re-placed.
    message.depth = None
    with pytest.raises(IntegrityError), transaction.atomic():
        message.save()


@pytest.mark.django_db
def test_save_passes_its_arguments_on():
    session = ChatSessionFactory()
    first = MessageFactory(session=session)
    first.content = "new text"
    first.role = "assistant"
    first.save(update_fields=["content"])
    first.refresh_from_db()
    assert (first.content, first.role) == ("new text", "user")
    second = Message(session=session, sequence=2, role="user", parent=first)
    second.save(force_insert=True)
    assert Message.objects.get(pk=second.pk).depth == 1
    # Positional arguments (deprecated by Django) reach it too.
    first.content, first.role = "newer text", "assistant"
    with pytest.warns(RemovedInDjango60Warning):
        first.save(False, False, None, ["content"])
    first.refresh_from_db()
    assert (first.content, first.role) == ("newer text", "user")


@pytest.mark.django_db
@pytest.mark.parametrize("positional", [False, True])
def test_bulk_create_places_the_rows_and_keeps_the_batch_size(
    positional, django_assert_num_queries
):
    session = ChatSessionFactory(user=UserFactory())
    messages = []
    for n in range(6):
        messages.append(
            Message(
                session=session,
                sequence=n + 1,
                role="user",
                parent=messages[-1] if messages else None,
            )
        )
    # A generator is read once: placed and inserted alike.
    rows = (message for message in messages)
    with django_assert_num_queries(3):
        if positional:
            created = Message.objects.bulk_create(rows, 2)
        else:
            created = Message.objects.bulk_create(rows, batch_size=2)
    assert created == messages
    stored = Message.objects.filter(session=session).order_by("sequence")
    assert [(m.depth, m.jump_id and m.jump.sequence) for m in stored] == [
        (0, None),
        (1, 1),
        (2, 2),
        (3, 1),
        (4, 4),
        (5, 5),
    ]
