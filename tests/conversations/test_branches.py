"""Conversations as trees (issue 14): the migration to one branch, edits and regenerates as
siblings, switching branches, and the context of a reply being exactly its branch."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection

from conversations import reply_storage, selectors, services
from conversations.errors import MessageNotFound, NothingToRegenerate
from conversations.models import ChatSession, Message
from core.errors import InvalidInput
from tests.factories import ChatSessionFactory, UserFactory, conversation

pytestmark = pytest.mark.django_db

migration = importlib.import_module("conversations.migrations.0007_message_tree")


def answered(turn: services.Turn, content: str) -> Message:
    """The turn's reply, finished with ``content``."""
    return reply_storage.finish_reply(
        reply=turn.reply, content=content, status=Message.Status.COMPLETE, reservation=None
    )


def sent_history(turn: services.Turn) -> list[str]:
    """The texts the model is given for ``turn``, without the system prompt."""
    return [m["content"] for m in turn.context.messages if m["role"] != "system"]


def current(session_id) -> Message | None:
    return ChatSession.objects.get(pk=session_id).current_message


def test_migration_turns_each_conversation_into_one_branch():
    user = UserFactory()
    sessions = [ChatSessionFactory(user=user) for _ in range(3)]
    for session in sessions[:2]:
        Message.objects.bulk_create(
            Message(session=session, sequence=n, role="user" if n % 2 else "assistant")
            for n in range(1, 6)
        )
    Message.objects.update(parent=None)
    ChatSession.objects.update(current_message=None)
    before = list(Message.objects.order_by("pk").values_list("pk", "sequence", "updated_at"))
    stamps = list(ChatSession.objects.order_by("pk").values_list("pk", "updated_at"))

    migration.link_single_branch(apps, SimpleNamespace(connection=connection))

    for session in sessions[:2]:
        chain = list(session.messages.order_by("sequence"))
        assert [m.parent_id for m in chain] == [None, *[m.pk for m in chain[:-1]]]
        assert current(session.pk) == chain[-1]
        session.refresh_from_db()
        assert list(selectors.branch_messages(session)) == chain
    assert current(sessions[2].pk) is None
    # Nothing else changes: sequences, message and session times.
    assert list(Message.objects.order_by("pk").values_list("pk", "sequence", "updated_at")) == (
        before
    )
    assert list(ChatSession.objects.order_by("pk").values_list("pk", "updated_at")) == stamps


@pytest.fixture
def tree(bystanders):
    """first -> a1 -> second -> a2, then "second" edited: first -> a1 -> edited -> e2; the
    user's other conversation and a second user's are in the database too."""
    user = UserFactory()
    conversation(user, turns=2)  # the same user's other conversation
    first = services.do_send(user=user, text="first question")
    a1 = answered(first, "first answer")
    second = services.do_send(user=user, text="second question", session_id=first.session.pk)
    a2 = answered(second, "second answer")
    edit = services.do_send(
        user=user,
        text="second question, edited",
        session_id=first.session.pk,
        edit_message_id=second.user_message.pk,
    )
    e2 = answered(edit, "edited answer")
    return SimpleNamespace(
        user=user,
        session=first.session,
        first=first,
        a1=a1,
        second=second,
        a2=a2,
        edit=edit,
        e2=e2,
    )


def test_an_edit_is_a_sibling_whose_branch_becomes_current_and_alone_reaches_the_model(tree):
    edited = tree.edit.user_message
    assert edited.parent_id == tree.second.user_message.parent_id == tree.a1.pk
    assert tree.edit.reply.parent_id == edited.pk
    assert edited.sibling_ids == [str(tree.second.user_message.pk), str(edited.pk)]
    assert current(tree.session.pk) == tree.e2
    assert sent_history(tree.edit) == [
        "first question",
        "first answer",
        "second question, edited",
    ]
    tree.session.refresh_from_db()
    assert [m.content for m in selectors.branch_messages(tree.session)] == [
        "first question",
        "first answer",
        "second question, edited",
        "edited answer",
    ]
    # A send continues the current branch only.
    third = services.do_send(user=tree.user, text="third", session_id=tree.session.pk)
    assert third.user_message.parent_id == tree.e2.pk
    assert sent_history(third) == [
        "first question",
        "first answer",
        "second question, edited",
        "edited answer",
        "third",
    ]


def test_regenerating_an_answer_on_another_branch_keeps_it_and_reads_only_its_branch(tree):
    turn = services.do_regenerate(user=tree.user, session_id=tree.session.pk, message_id=tree.a2.pk)
    assert turn.user_message == tree.second.user_message
    assert turn.reply.parent_id == tree.second.user_message.pk
    assert turn.reply.sibling_ids == [str(tree.a2.pk), str(turn.reply.pk)]
    assert sent_history(turn) == ["first question", "first answer", "second question"]
    assert current(tree.session.pk) == turn.reply
    assert Message.objects.filter(pk=tree.a2.pk, content="second answer").exists()


def test_regenerate_by_default_answers_the_current_leaf_again(tree):
    turn = services.do_regenerate(user=tree.user, session_id=tree.session.pk)
    assert turn.user_message == tree.edit.user_message
    assert turn.reply.sibling_ids == [str(tree.e2.pk), str(turn.reply.pk)]


def test_hidden_messages_on_the_branch_never_reach_the_model(tree):
    Message.objects.filter(pk=tree.a1.pk).update(hidden=True)
    turn = services.do_regenerate(user=tree.user, session_id=tree.session.pk)
    assert sent_history(turn) == ["first question", "second question, edited"]
    answered(turn, "edited answer again")
    # A question hidden by a moderator is not answered again.
    Message.objects.filter(pk=tree.edit.user_message.pk).update(hidden=True)
    with pytest.raises(NothingToRegenerate):
        services.do_regenerate(user=tree.user, session_id=tree.session.pk, message_id=tree.e2.pk)


def test_switching_picks_the_newest_leaf_under_the_chosen_message(tree):
    later = services.do_send(user=tree.user, text="after e2", session_id=tree.session.pk)
    answered(later, "after e2 answer")
    session = services.switch_branch(
        user=tree.user, session_id=tree.session.pk, message_id=tree.second.user_message.pk
    )
    assert session.current_message_id == tree.a2.pk == current(tree.session.pk).pk
    assert [m.content for m in selectors.branch_messages(session)][-2:] == [
        "second question",
        "second answer",
    ]
    # From the first message: at each step the most recently created child.
    session = services.switch_branch(
        user=tree.user, session_id=tree.session.pk, message_id=tree.first.user_message.pk
    )
    assert current(tree.session.pk).content == "after e2 answer"
    # A send continues the branch switched to.
    services.switch_branch(user=tree.user, session_id=tree.session.pk, message_id=tree.a2.pk)
    turn = services.do_send(user=tree.user, text="on the old branch", session_id=session.pk)
    assert turn.user_message.parent_id == tree.a2.pk
    assert sent_history(turn)[-3:] == ["second question", "second answer", "on the old branch"]


def test_edit_and_switch_refuse_other_messages_with_the_field_or_a_404(tree, bystanders):
    with pytest.raises(InvalidInput) as refused:
        services.do_send(
            user=tree.user, text="x", session_id=tree.session.pk, edit_message_id=tree.a1.pk
        )
    assert refused.value.field == "editMessageId"
    with pytest.raises(InvalidInput) as refused:
        services.do_regenerate(
            user=tree.user, session_id=tree.session.pk, message_id=tree.first.user_message.pk
        )
    assert refused.value.field == "messageId"
    other_session = conversation(tree.user, turns=1)
    strangers = (bystanders.messages[0].pk, other_session.messages.first().pk, "nope")
    for message_id in strangers:
        with pytest.raises(MessageNotFound):
            services.do_send(
                user=tree.user, text="x", session_id=tree.session.pk, edit_message_id=message_id
            )
        with pytest.raises(MessageNotFound):
            services.switch_branch(
                user=tree.user, session_id=tree.session.pk, message_id=message_id
            )
        with pytest.raises(MessageNotFound):
            services.do_regenerate(
                user=tree.user, session_id=tree.session.pk, message_id=message_id
            )
    with pytest.raises(MessageNotFound):
        services.do_send(user=tree.user, text="x", edit_message_id=bystanders.messages[0].pk)
    assert bystanders.unchanged()
    assert current(tree.session.pk) == tree.e2


def branchy(depth: int) -> ChatSession:
    """A conversation ``depth`` turns deep, with a second answer at every turn."""
    user = UserFactory()
    turn = services.do_send(user=user, text="q0")
    session = turn.session
    for n in range(depth):
        answered(turn, f"a{n}")
        other = services.do_regenerate(user=user, session_id=session.pk)
        answered(other, f"a{n} again")
        turn = services.do_send(user=user, text=f"q{n + 1}", session_id=session.pk)
    answered(turn, "last")
    return ChatSession.objects.get(pk=session.pk)


@pytest.mark.parametrize("depth", [2, 60])
def test_the_current_branch_costs_the_same_queries_at_any_depth(depth, django_assert_num_queries):
    session = branchy(depth)
    with django_assert_num_queries(2):
        messages = selectors.with_sibling_ids(list(selectors.branch_messages(session)))
    assert len(messages) == 2 * depth + 2
    assert [m.content for m in messages[:4]] == ["q0", "a0 again", "q1", "a1 again"]
    assert all(len(m.sibling_ids) == 2 for m in messages[1:-1:2])
    with django_assert_num_queries(1):
        history = list(selectors.context_history(last_id=session.current_message_id, budget=10**6))
    assert [m.content for m in reversed(history)] == [m.content for m in messages]
    leaf = session.current_message_id
    with django_assert_num_queries(1):
        assert selectors.newest_leaf_under(messages[0]) == leaf
