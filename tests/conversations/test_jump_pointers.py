"""Issue 14: every message stores its depth and a skew-binary jump pointer (Myers 1983), set
by every writer, so that the ancestor at any depth is a few steps away."""

from __future__ import annotations

import importlib
import json
import math
from types import SimpleNamespace

import httpx
import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accounts import services as account_services
from conversations import reply_storage, services
from conversations.models import ChatSession, Message, jump_depth, place_messages
from tests.api.conftest import bearer_client
from tests.factories import ChatSessionFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db

migration = importlib.import_module("conversations.migrations.0008_message_depth_jump")


def defined_places(messages: list[Message]) -> dict:
    """Depth and jump of each message by the definition, from the parents alone: a first
    message has depth 0 and no jump; a child of ``p`` has ``p``'s depth + 1 and jumps to
    ``p.jump.jump`` when ``p.depth - p.jump.depth == p.jump.depth - p.jump.jump.depth``,
    else to ``p``."""
    places: dict = {}
    for message in sorted(messages, key=lambda m: m.sequence):
        if message.parent_id is None:
            places[message.pk] = (0, None)
            continue
        depth, up = places[message.parent_id]
        jump = message.parent_id
        if up is not None and places[up][1] is not None:
            up_depth, upper = places[up]
            if depth - up_depth == up_depth - places[upper][0]:
                jump = upper
        places[message.pk] = (depth + 1, jump)
    return places


def stored_places(session: ChatSession) -> dict:
    rows = Message.objects.filter(session=session).values_list("pk", "depth", "jump_id")
    return {pk: (depth, jump) for pk, depth, jump in rows}


def assert_placed(session: ChatSession) -> None:
    """Every message of ``session`` has the defined depth and jump, and the ancestor found
    by jumps at every depth is the one found parent by parent, in O(log depth) steps."""
    messages = list(Message.objects.filter(session=session))
    assert messages
    places = stored_places(session)
    assert places == defined_places(messages)
    parent = {m.pk: m.parent_id for m in messages}
    for message in messages:
        line = [message.pk]
        while parent[line[-1]] is not None:
            line.append(parent[line[-1]])
        depth = places[message.pk][0]
        assert depth == len(line) - 1
        for target in range(depth + 1):
            node, steps = message.pk, 0
            while places[node][0] > target:
                jump = places[node][1]
                node = jump if places[jump][0] >= target else parent[node]
                steps += 1
            assert node == line[depth - target]
            assert steps <= 3 * math.log2(depth + 1) + 1


def answered(turn: services.Turn, content: str) -> Message:
    return reply_storage.finish_reply(
        reply=turn.reply, content=content, status=Message.Status.COMPLETE, reservation=None
    )


def test_jump_depth_is_the_depth_the_definition_gives():
    line = [SimpleNamespace(pk=n, sequence=n, parent_id=n - 1 if n else None) for n in range(599)]
    places = defined_places(line)
    assert [jump_depth(places[n][0]) for n in range(599)] == [
        None if jump is None else places[jump][0] for _depth, jump in places.values()
    ]
    assert [jump_depth(d) for d in range(1, 16)] == [0, 1, 0, 3, 4, 3, 0, 7, 8, 7, 10, 11, 10, 7, 0]


def test_sends_edits_and_regenerations_place_every_message():
    user = UserFactory()
    turn = services.do_send(user=user, text="question 0")
    session_id = turn.session.pk
    for n in range(1, 12):
        answered(turn, f"answer {n - 1}")
        turn = services.do_send(user=user, text=f"question {n}", session_id=session_id)
    answered(turn, "last answer")
    questions = Message.objects.filter(session_id=session_id, role="user").order_by("sequence")
    for edited in list(questions)[3:9:2]:
        edit = services.do_send(
            user=user, text="edited", session_id=session_id, edit_message_id=edited.pk
        )
        answered(edit, "answer to the edit")
        answered(services.do_regenerate(user=user, session_id=session_id), "again")
        follow = services.do_send(user=user, text="and then?", session_id=session_id)
        answered(follow, "then this")

    assert_placed(ChatSession.objects.get(pk=session_id))


def test_a_turn_is_placed_with_one_read_of_its_stored_parent(django_assert_num_queries):
    session = ChatSessionFactory()
    for _ in range(20):
        MessageFactory(session=session)
    leaf = ChatSession.objects.get(pk=session.pk).current_message
    for depth in range(20, 40):
        question = Message(session=session, parent_id=leaf.pk, sequence=2 * depth, role="user")
        reply = Message(session=session, parent=question, sequence=2 * depth + 1, role="user")
        with django_assert_num_queries(1):
            place_messages([question, reply])
        Message.objects.bulk_create([question, reply])
        leaf = reply

    assert_placed(session)


@hypothesis_settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.floats(min_value=0, max_value=1, exclude_max=True), min_size=1, max_size=80))
def test_any_tree_stored_at_once_or_one_by_one_is_placed(choices):
    # Each message's parent is one of the messages before it, mostly recent ones (so trees
    # get deep), the first message has none.
    user = UserFactory()
    at_once, one_by_one = (ChatSessionFactory(user=user) for _ in range(2))
    stored: list[Message] = []
    for n, choice in enumerate(choices):
        parent = None if n == 0 else stored[int((n - 1) * (1 - choice**4))]
        stored.append(Message(session=at_once, parent=parent, sequence=n + 1, role="user"))
    services.store_as_tree(session=at_once, messages=stored, batch_size=7)
    saved: list[Message] = []
    for message in stored:
        parent = None if message.parent_id is None else saved[message.parent.sequence - 1]
        saved.append(
            Message.objects.create(
                session=one_by_one, parent=parent, sequence=message.sequence, role="user"
            )
        )

    assert_placed(at_once)
    assert_placed(one_by_one)
    assert [(m.depth, m.jump_id and m.jump.sequence) for m in stored] == [
        (m.depth, m.jump_id and m.jump.sequence) for m in saved
    ]


def test_shared_copies_and_imports_are_placed(user):
    api = bearer_client(user)
    session = ChatSessionFactory(user=user)
    services.store_as_branch(
        session=session,
        messages=[
            Message(session=session, sequence=n, role="user" if n % 2 else "assistant")
            for n in range(1, 40)
        ],
    )
    assert_placed(session)

    mapping = {"root": {"id": "root", "message": None, "parent": None, "children": []}}
    parent = "root"
    for n in range(30):
        node_id = f"n{n}"
        role = "user" if n % 2 == 0 else "assistant"
        mapping[node_id] = {
            "id": node_id,
            "parent": parent,
            "children": [],
            "message": {
                "id": node_id,
                "author": {"role": role},
                "create_time": 1700000000.0 + n,
                "content": {"content_type": "text", "parts": [f"text {n}"]},
                "metadata": {},
            },
        }
        mapping[parent]["children"].append(node_id)
        # Every fifth message also gets a second child, a side branch.
        parent = node_id if n % 5 else parent
    item = {"id": "c", "title": "Imported", "current_node": "n29", "mapping": mapping}
    upload = SimpleUploadedFile("conversations.json", json.dumps([item]).encode())
    assert api.post("/api/chat/import", {"file": upload}).json()["imported"] == 1

    assert_placed(ChatSession.objects.get(user=user, title="Imported"))


def test_a_v1_history_is_placed(live_app, upstream):
    user = UserFactory()
    token = account_services.issue_token(user=user).token
    history = [
        {"role": "user" if n % 2 == 0 else "assistant", "content": f"turn {n}"} for n in range(41)
    ]
    response = httpx.post(
        f"{live_app}/v1/chat/completions",
        json={"model": "test-model", "messages": history},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )

    assert response.status_code == 200, response.content
    session = ChatSession.objects.get(user=user)
    assert session.messages.count() == 42
    assert_placed(session)


def test_migration_places_stored_messages():
    user = UserFactory()
    sessions = [ChatSessionFactory(user=user) for _ in range(3)]
    for session in sessions[:2]:
        leaves: list = []
        for n in range(1, 60):
            parent = None if n == 1 else leaves[-1 if n % 7 else -3]
            leaves.append(MessageFactory(session=session, parent=parent, sequence=n))
    expected = {s.pk: stored_places(s) for s in sessions}
    Message.objects.update(depth=0, jump=None)

    migration.place_stored_messages(apps, SimpleNamespace(connection=connection))

    assert {s.pk: stored_places(s) for s in sessions} == expected
    for session in sessions[:2]:
        assert_placed(session)


def test_migration_writes_in_batches(monkeypatch, django_assert_max_num_queries):
    session = ChatSessionFactory()
    services.store_as_branch(
        session=session,
        messages=[Message(session=session, sequence=n, role="user") for n in range(1, 26)],
    )
    expected = stored_places(session)
    Message.objects.update(depth=0, jump=None)
    monkeypatch.setattr(migration, "BATCH", 10)

    # The sessions, their messages, and three batches of updates (in a transaction each).
    with django_assert_max_num_queries(12):
        migration.place_stored_messages(apps, SimpleNamespace(connection=connection))

    assert stored_places(session) == expected


def test_deleting_a_conversation_removes_its_jumps_too():
    session = ChatSessionFactory()
    services.store_as_branch(
        session=session,
        messages=[Message(session=session, sequence=n, role="user") for n in range(1, 30)],
    )
    other = ChatSessionFactory(user=session.user)
    MessageFactory(session=other)

    services.delete_session(user=session.user, session_id=session.pk)

    assert not Message.objects.filter(session_id=session.pk).exists()
    assert Message.objects.filter(session=other).count() == 1
