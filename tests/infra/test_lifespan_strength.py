"""The ASGI lifespan wrapper (issue 23): other scopes reach the app untouched; startup is
answered once prepared (the vocabulary loaded); shutdown ends this process's replies,
closes the model clients and the database threads' connections, then answers and returns."""

from __future__ import annotations

import asyncio
import gc
from types import SimpleNamespace

import pytest
from django.db import connections

from conversations import context, llm, replies
from conversations.db import run_db
from conversations.lifespan import GC_THRESHOLDS, LifespanMiddleware


@pytest.mark.parametrize("kind", ["http", "websocket"])
async def test_other_scopes_reach_the_app_untouched(kind):
    seen = []

    async def app(scope, receive, send):
        seen.append((scope, receive, send))

    scope, receive, send = {"type": kind}, object(), object()

    await LifespanMiddleware(app)(scope, receive, send)

    assert seen == [(scope, receive, send)]


@pytest.mark.django_db(transaction=True)
async def test_startup_then_shutdown_ends_replies_and_closes_clients_and_connections(
    upstream, monkeypatch
):
    received = iter(
        [{"type": "lifespan.startup"}, {"type": "lifespan.other"}, {"type": "lifespan.shutdown"}]
    )
    sent = []

    async def receive():
        return next(received)

    async def send(message):
        sent.append(message)

    reply = asyncio.create_task(asyncio.sleep(3600))
    monkeypatch.setitem(replies._runs, "reply-1", SimpleNamespace(task=reply, reply_id="reply-1"))
    client = llm.async_client()
    await run_db(lambda: connections["default"].ensure_connection())
    before = gc.get_threshold()
    context._encoding.cache_clear()

    try:
        await asyncio.wait_for(
            LifespanMiddleware(app=None)({"type": "lifespan"}, receive, send), 30
        )
        assert gc.get_threshold() == GC_THRESHOLDS
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()

    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]
    # Another message was no shutdown: the loop went on to the real one.
    assert next(received, "all read") == "all read"
    # The vocabulary was loaded at startup, not by the first send.
    assert context._encoding.cache_info().currsize == 1
    assert reply.cancelled()
    assert client.is_closed()
    assert asyncio.get_running_loop() not in llm._async_clients
    assert await run_db(lambda: connections["default"].connection is None)
