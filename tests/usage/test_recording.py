"""Each reply stores what the usage figures read: cached tokens, time to first and last token."""

from __future__ import annotations

import pytest

from conversations.models import Message
from loopback.upstream import Behaviour

pytestmark = pytest.mark.django_db(transaction=True)


def send(client, message: str):
    return client.post("/api/chat", {"message": message}, content_type="application/json")


def test_reply_stores_cached_tokens_and_its_first_and_last_token_times(api, upstream):
    upstream.push(Behaviour(tokens=4, cached_tokens=7, first_token_delay=0.3, token_gap=0.05))

    response = send(api, "hello there")

    assert response.status_code == 200, response.content
    reply = Message.objects.get(pk=response.json()["messageId"])
    assert (reply.completion_tokens, reply.cached_tokens) == (4, 7)
    # Lower bounds only: the upstream waited this long before its first and between pieces
    # (a first token read late may arrive with the next, so the gaps add to the request's).
    assert reply.first_token_ms >= 300
    assert reply.total_ms >= max(reply.first_token_ms, 300 + 3 * 50)


def test_reply_that_never_got_a_token_stores_no_times(api, upstream):
    upstream.push(Behaviour(status=503), Behaviour(status=503))

    response = send(api, "hello there")

    assert response.status_code == 503
    reply = Message.objects.get(pk=response.json()["messageId"])
    assert (reply.status, reply.cached_tokens, reply.first_token_ms, reply.total_ms) == (
        "failed",
        None,
        None,
        None,
    )
