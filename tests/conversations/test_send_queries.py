"""What a new conversation's turn costs the database (issue 22's CPU per chat), with the
same payloads: the statements that touch messages when it is stored and when its reply ends."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations import payloads, reply_storage, services
from conversations.models import ChatSession
from sharing import services as sharing_services

pytestmark = pytest.mark.django_db


def message_reads(queries) -> list[str]:
    return [
        q["sql"]
        for q in queries
        if q["sql"].startswith("SELECT") and '"conversations_message"' in q["sql"]
    ]


def test_a_new_conversations_turn_reads_no_message_for_its_payloads(user):
    with CaptureQueriesContext(connection) as queries:
        checked = services.check_send(user=user, text="Hello there")
    turn = checked.turn
    assert message_reads(queries.captured_queries) == []
    for message in (turn.user_message, turn.reply):
        payload = payloads.message_payload(message)
        assert payload["siblingIds"] == [str(message.pk)]
        assert payload["feedback"] is None


def test_the_end_of_a_reply_reads_it_back_once_with_a_rating_given_while_it_streamed(user):
    turn = services.check_send(user=user, text="Hello there").turn
    sharing_services.rate_reply(user=user, message_id=turn.reply.pk, rating="up", comment="ok")
    with CaptureQueriesContext(connection) as queries:
        reply = reply_storage.finish_reply(reply=turn.reply, content="Hi", status="complete")
    assert len(message_reads(queries.captured_queries)) == 1
    assert reply.hidden is False
    payload = payloads.message_payload(reply)
    assert payload["siblingIds"] == [str(turn.reply.pk)]
    assert payload["feedback"] == {"rating": "up", "comment": "ok"}


def session_writes(queries) -> list[str]:
    return [
        q["sql"].split(" ", 1)[0]
        for q in queries
        if q["sql"].startswith(("INSERT", "UPDATE")) and '"conversations_chatsession"' in q["sql"]
    ]


def test_a_new_conversation_is_stored_once_with_its_reply_current(user):
    with CaptureQueriesContext(connection) as queries:
        turn = services.check_send(user=user, text="Hello there").turn
    assert session_writes(queries.captured_queries) == ["INSERT"]
    stored = ChatSession.objects.get(pk=turn.session.pk)
    assert stored.current_message_id == turn.reply.pk
    assert stored.flagged is False
    assert list(stored.messages.order_by("sequence").values_list("pk", flat=True)) == [
        turn.user_message.pk,
        turn.reply.pk,
    ]


def test_a_flagged_first_message_stores_its_conversation_flagged(user, settings):
    settings.CHATBOT_MODERATION = "flag"
    flagged = services.ContentCheck(flagged=True, categories=("harassment",))
    with CaptureQueriesContext(connection) as queries:
        turn = services.do_send(user=user, text="Hello there", content=flagged)
    assert session_writes(queries.captured_queries) == ["INSERT"]
    stored = ChatSession.objects.get(pk=turn.session.pk)
    assert stored.flagged is True and stored.current_message_id == turn.reply.pk
