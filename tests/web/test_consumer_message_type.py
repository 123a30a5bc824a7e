"""The browser's WebSocket with a ``type`` that is not a string: any JSON value may come."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("message_type", [["send"], {"send": 1}, None, 1])
async def test_a_type_that_is_not_a_string_is_unknown_and_the_socket_stays(sockets, message_type):
    user = await sync_to_async(UserFactory)()
    socket = await sockets(user)
    await socket.send_json_to({"type": message_type, "requestId": "r1"})
    assert (await socket.receive_json_from(timeout=5))["detail"] == "Unknown message type."
    await socket.send_json_to({"type": "dance"})
    assert (await socket.receive_json_from(timeout=5))["detail"] == "Unknown message type."
