"""An open WebSocket stays usable after a bad frame: tested from outside, against the app
served by uvicorn, with a real WebSocket client.
"""

from __future__ import annotations

import asyncio

import pytest
import websockets
from django.test import Client

from conversations.models import ChatSession
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def session_cookie(user) -> str:
    """A signed-in browser session of ``user`` (what the login form would set)."""
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def open_socket(live_app: str, sessionid: str):
    return await websockets.connect(
        live_app.replace("http", "ws", 1) + "/ws/chat/",
        additional_headers={"Origin": live_app, "Cookie": f"sessionid={sessionid}"},
        open_timeout=10,
    )


def run(coroutine):
    return asyncio.run(coroutine)


# --- A deeply nested frame --------------------------------------------------------------


def test_a_deeply_nested_frame_gets_an_error_and_the_socket_stays_usable(live_app, upstream):
    user = UserFactory()
    cookie = session_cookie(user)
    frame = '{"type": "send", "text": "hi", "x": ' + "[" * 990 + "]" * 990 + "}"

    async def scenario():
        async with await open_socket(live_app, cookie) as socket:
            await socket.send(frame)
            error = await asyncio.wait_for(socket.recv(), 10)
            await socket.send('{"type": "send", "text": "still here?", "requestId": "r1"}')
            turn = await asyncio.wait_for(socket.recv(), 10)
            while '"type": "reply"' not in await asyncio.wait_for(socket.recv(), 10):
                pass
            return error, turn

    error, turn = run(scenario())
    assert '"code": "invalid"' in error and "nested too deeply" in error
    assert '"type": "turn"' in turn and '"requestId": "r1"' in turn
    assert ChatSession.objects.filter(user=user).count() == 1
