"""Reads: the context selector reads only as far back as the token budget reaches."""

from __future__ import annotations

import pytest
from django.db import connection

from conversations import llm, selectors
from conversations.models import Message
from tests.factories import ChatSessionFactory, MessageFactory


def long_session(turns: int):
    session = ChatSessionFactory()
    Message.objects.bulk_create(
        Message(
            session=session,
            sequence=i + 1,
            role="user" if i % 2 == 0 else "assistant",
            content=f"message {i} " + "filler " * 30,
            token_count=llm.count_tokens(f"message {i} " + "filler " * 30),
        )
        for i in range(turns * 2)
    )
    return session


@pytest.mark.django_db
@pytest.mark.parametrize("turns", [5, 600])
def test_context_history_costs_the_same_queries_whatever_the_length(
    django_assert_num_queries, turns
):
    session = long_session(turns)
    # SQLite: one query read in chunks as far as the budget; PostgreSQL: token counts, then
    # the text of the messages that fit.
    queries = 1 if connection.vendor == "sqlite" else 2
    with django_assert_num_queries(queries):
        kept = list(
            selectors.context_history(
                session_id=session.pk, before_sequence=turns * 2 + 1, budget=2000
            )
        )
    newest_first = list(Message.objects.filter(session=session).order_by("-sequence"))
    fitting, used = 0, 0
    for message in newest_first:
        used += message.token_count + llm.MESSAGE_OVERHEAD_TOKENS
        if used > 2000:
            break
        fitting += 1
    # Everything that fits, and at most the one message that does not.
    assert fitting <= len(kept) <= fitting + 1
    assert [m.content for m in kept[:fitting]] == [m.content for m in newest_first[:fitting]]


@pytest.mark.django_db
def test_budgeted_history_equals_what_the_context_keeps():
    session = long_session(100)
    unbounded = llm.build_context(
        system_prompt="S",
        history=selectors.context_history(session_id=session.pk, before_sequence=201),
        budget=3000,
    )
    budgeted = llm.build_context(
        system_prompt="S",
        history=selectors.context_history(
            session_id=session.pk, before_sequence=201, budget=3000 - llm.count_tokens("S")
        ),
        budget=3000,
    )
    assert budgeted == unbounded


@pytest.mark.django_db
def test_context_leaves_out_hidden_streaming_failed_and_empty_messages():
    session = ChatSessionFactory()
    MessageFactory(session=session, role="user", content="kept question")
    MessageFactory(session=session, role="assistant", content="failed half", status="failed")
    MessageFactory(session=session, role="user", content="hidden one", hidden=True)
    MessageFactory(session=session, role="assistant", content="", status="cancelled")
    MessageFactory(session=session, role="assistant", content="still going", status="streaming")
    MessageFactory(session=session, role="assistant", content="stopped early", status="cancelled")
    MessageFactory(session=session, role="user", content="latest")
    history = selectors.context_history(session_id=session.pk, before_sequence=8, budget=1000)
    assert [m.content for m in history] == ["latest", "stopped early", "kept question"]
