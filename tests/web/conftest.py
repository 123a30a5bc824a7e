"""Fixtures for the browser-facing transports: logged-in WebSocket connections."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from chatbot.asgi import application
from conversations import replies

ORIGIN = b"http://testserver"


@sync_to_async
def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def open_socket(user=None, *, origin: bytes = ORIGIN) -> WebsocketCommunicator:
    """A WebSocket to /ws/chat/ (connected or not: check ``.connected``)."""
    headers = [(b"origin", origin), (b"host", b"testserver")]
    if user is not None:
        headers.append((b"cookie", f"sessionid={await session_cookie(user)}".encode()))
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=headers)
    communicator.connected, communicator.close_code = await communicator.connect(timeout=5)
    return communicator


async def receive_until(communicator, event_type: str, frame_timeout: float = 10) -> list[dict]:
    """Every event up to and including the first of ``event_type``."""
    events = []
    while True:
        event = await communicator.receive_json_from(timeout=frame_timeout)
        events.append(event)
        if event["type"] == event_type:
            return events


async def settle(reply_id) -> None:
    """Wait for a background reply (and its title) to finish before the test ends."""
    run = replies.local_run(reply_id)
    if run is not None:
        await asyncio.wait_for(asyncio.shield(run.task), 10)


@pytest.fixture
async def sockets():
    """Collects sockets opened by a test and closes them afterwards."""
    opened: list[WebsocketCommunicator] = []

    async def opener(user=None, **kwargs) -> WebsocketCommunicator:
        communicator = await open_socket(user, **kwargs)
        opened.append(communicator)
        return communicator

    yield opener
    for communicator in opened:
        # Refused sockets too: their consumer waits for the disconnect, and a consumer left
        # reading from the Redis channel layer cannot be cancelled cleanly at loop close.
        if not communicator.future.done():
            await communicator.disconnect()
