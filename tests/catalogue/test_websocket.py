"""The WebSocket follows the API's rules: a chosen model answers, an unknown one is an
error naming the field."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from conversations.models import ChatSession
from tests.factories import UserFactory
from tests.web.conftest import receive_until, settle, sockets  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_socket_send_uses_the_chosen_model(providers, sockets, second_upstream):  # noqa: F811
    user = await sync_to_async(UserFactory)()
    socket = await sockets(user)
    await socket.send_json_to({"type": "send", "text": "Hello", "model": "strong"})
    turn = await socket.receive_json_from(timeout=5)
    reply = (await receive_until(socket, "reply"))[-1]["message"]
    await settle(reply["messageId"])
    assert second_upstream.reply_requests()[0]["model"] == "strong"
    session = await ChatSession.objects.aget(pk=turn["sessionId"])
    assert session.model == "strong"


async def test_a_socket_send_with_another_groups_model_is_refused(providers, sockets):  # noqa: F811
    user = await sync_to_async(UserFactory)()
    socket = await sockets(user)
    await socket.send_json_to(
        {"type": "send", "text": "Hello", "model": "research", "requestId": "r"}
    )
    error = await socket.receive_json_from(timeout=5)
    assert error["type"] == "error" and error["code"] == "invalid"
    assert error["detail"] == "Unknown model 'research'."
    assert not await ChatSession.objects.aexists()
