"""The in-memory channel layer's cheaper group_send keeps the stock layer's behaviour."""

from __future__ import annotations

import asyncio

import pytest

from chatbot.forks import layers
from chatbot.forks.layers import FastGroupSendLayer


async def test_members_get_the_message_and_others_do_not():
    layer = FastGroupSendLayer(capacity=10)
    first, second, outsider = [await layer.new_channel() for _ in range(3)]
    await layer.group_add("tabs", first)
    await layer.group_add("tabs", second)
    await layer.group_add("elsewhere", outsider)

    await layer.group_send("tabs", {"type": "chat.delta", "content": "hi"})

    assert await layer.receive(first) == {"type": "chat.delta", "content": "hi"}
    assert await layer.receive(second) == {"type": "chat.delta", "content": "hi"}
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await layer.receive(outsider)


async def test_an_empty_group_is_a_no_op_and_a_full_channel_does_not_stop_the_others():
    layer = FastGroupSendLayer(capacity=1)
    await layer.group_send("nobody", {"type": "x"})
    full, free = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("tabs", full)
    await layer.group_add("tabs", free)
    await layer.send(full, {"type": "earlier"})

    await layer.group_send("tabs", {"type": "later"})

    assert await layer.receive(full) == {"type": "earlier"}
    assert await layer.receive(free) == {"type": "later"}


async def test_expired_messages_and_memberships_are_still_cleaned(monkeypatch):
    layer = FastGroupSendLayer(expiry=60, group_expiry=60)
    stale = await layer.new_channel()
    await layer.group_add("tabs", stale)
    await layer.send(stale, {"type": "old"})
    clock = asyncio.get_running_loop().time()
    # Age the queued message past its expiry, and make the next group_send due to clean.
    queue = layer.channels[stale]
    queue._queue[0] = (0.0, queue._queue[0][1])
    monkeypatch.setattr(layers.time, "monotonic", lambda: clock + 10 * 3600)

    await layer.group_send("other", {"type": "x"})

    assert stale not in layer.channels
    assert not layer.groups.get("tabs")


async def test_listeners_are_known_exactly_only_with_the_in_memory_layer():
    from channels.layers import InMemoryChannelLayer, get_channel_layer

    from conversations.events import may_have_listeners, user_group

    layer = get_channel_layer()
    if not isinstance(layer, InMemoryChannelLayer):
        # Redis: a tab may be open in another process, so every reply is published.
        assert may_have_listeners(12345)
        return
    assert not may_have_listeners(12345)
    channel = await layer.new_channel()
    await layer.group_add(user_group(12345), channel)
    try:
        assert may_have_listeners(12345)
        assert not may_have_listeners(54321)
    finally:
        await layer.group_discard(user_group(12345), channel)
