"""What a new conversation's turn costs the database (issue 22's CPU per chat), with the
same payloads: the statements that touch messages when it is stored and when its reply ends."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations import payloads, reply_storage, services
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
