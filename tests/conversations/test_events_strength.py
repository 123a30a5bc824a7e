"""Events for the user's tabs (issue 23): what reaches whose group, exactly; a layer that is
down or absent costs the write nothing (logged); sockets closed only after a commit."""

from __future__ import annotations

import asyncio
import hashlib
import logging

import pytest
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.db import transaction
from redis.exceptions import ConnectionError as RedisConnectionError

from conversations import events


@pytest.fixture
def memory_layer(settings):
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {}}
    }
    return get_channel_layer()


async def member(layer, group: str) -> str:
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    return channel


async def received(layer, channel: str) -> dict:
    """The next message of ``channel``; a bounded wait, so a missing one fails the test."""
    async with asyncio.timeout(2):
        return await layer.receive(channel)


async def nothing_for(layer, channel: str) -> bool:
    try:
        async with asyncio.timeout(0.05):
            await layer.receive(channel)
    except TimeoutError:
        return True
    return False


class BrokenLayer:
    """A layer whose every send fails as Redis does when it is down or full."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def group_send(self, group, message):
        raise self.error


def test_group_names():
    assert events.user_group(7) == "chat.user.7"
    assert events.reply_group("5f0c") == "chat.reply.5f0c"


def test_a_session_tag_is_the_start_of_the_keys_sha256():
    assert events.session_tag("abc") == hashlib.sha256(b"abc").hexdigest()[:32]
    assert len(events.session_tag("abc")) == 32
    assert events.session_tag("abc") != events.session_tag("abd")


async def test_publish_reaches_every_tab_of_the_user_and_no_one_else(memory_layer):
    first, second = (
        await member(memory_layer, "chat.user.1"),
        await member(memory_layer, "chat.user.1"),
    )
    other = await member(memory_layer, "chat.user.2")
    event = {"type": "chat.session_renamed", "title": "New"}

    await events.publish(1, event)

    assert await received(memory_layer, first) == event
    assert await received(memory_layer, second) == event
    assert await nothing_for(memory_layer, other)


async def test_ask_for_reply_text_reaches_the_replys_group_only(memory_layer):
    writer = await member(memory_layer, "chat.reply.r1")
    other = await member(memory_layer, "chat.reply.r2")

    await events.ask_for_reply_text("r1", reply_to="tab-channel")

    assert await received(memory_layer, writer) == {
        "type": "reply.text_request",
        "replyTo": "tab-channel",
    }
    assert await nothing_for(memory_layer, other)


@pytest.mark.parametrize(
    "error", [RedisConnectionError("down"), OSError("refused"), ChannelFull("full")]
)
async def test_a_layer_that_fails_is_logged_and_the_write_stands(monkeypatch, caplog, error):
    monkeypatch.setattr(events, "get_channel_layer", lambda: BrokenLayer(error))
    name = type(error).__name__

    with caplog.at_level(logging.WARNING, logger="conversations.events"):
        await events.publish(1, {"type": "chat.session_deleted"})
        await events.ask_for_reply_text("r1", reply_to="tab")

    assert [record.getMessage() for record in caplog.records] == [
        f"could not publish chat.session_deleted: {name}",
        f"could not ask for the text of a reply: {name}",
    ]
    assert [record.levelno for record in caplog.records] == [logging.WARNING] * 2


async def test_other_errors_of_the_layer_are_not_swallowed(monkeypatch):
    monkeypatch.setattr(events, "get_channel_layer", lambda: BrokenLayer(ValueError("bug")))

    with pytest.raises(ValueError):
        await events.publish(1, {"type": "x"})
    with pytest.raises(ValueError):
        await events.ask_for_reply_text("r1", reply_to="tab")


async def test_without_a_layer_nothing_is_sent_and_no_one_listens(settings, caplog):
    settings.CHANNEL_LAYERS = {}
    assert get_channel_layer() is None

    with caplog.at_level(logging.WARNING, logger="conversations.events"):
        await events.publish(1, {"type": "x"})
        await events.ask_for_reply_text("r1", reply_to="tab")

    assert caplog.records == []
    assert events.may_have_listeners(1) is False


async def test_listeners_are_known_in_memory_and_assumed_elsewhere(memory_layer, monkeypatch):
    assert events.may_have_listeners(1) is False
    channel = await member(memory_layer, "chat.user.1")

    assert events.may_have_listeners(1) is True
    assert events.may_have_listeners(2) is False
    await memory_layer.group_discard("chat.user.1", channel)
    assert events.may_have_listeners(1) is False
    # Redis: a tab may be open in another process.
    monkeypatch.setattr(events, "get_channel_layer", lambda: BrokenLayer(OSError()))
    assert events.may_have_listeners(1) is True


def test_close_sockets_of_a_browser_session_or_of_all(memory_layer):
    channel = asyncio.run(member(memory_layer, "chat.user.3"))

    events.close_sockets(3, code=4401, reason="signed out", session_key="key-1")
    events.close_sockets(3, code=4403, reason="suspended")

    closes = [asyncio.run(received(memory_layer, channel)) for _ in range(2)]
    assert closes == [
        {
            "type": "chat.close",
            "code": 4401,
            "reason": "signed out",
            "session": events.session_tag("key-1"),
        },
        {"type": "chat.close", "code": 4403, "reason": "suspended", "session": None},
    ]


@pytest.mark.django_db(transaction=True)
def test_sockets_close_only_once_the_transaction_commits(memory_layer):
    channel = asyncio.run(member(memory_layer, "chat.user.4"))

    with pytest.raises(RuntimeError), transaction.atomic():
        events.close_sockets_on_commit(4, code=4403, reason="rolled back")
        raise RuntimeError
    with transaction.atomic():
        events.close_sockets_on_commit(4, code=4403, reason="suspended")
        assert asyncio.run(nothing_for(memory_layer, channel))

    assert asyncio.run(received(memory_layer, channel)) == {
        "type": "chat.close",
        "code": 4403,
        "reason": "suspended",
        "session": None,
    }
    assert asyncio.run(nothing_for(memory_layer, channel))
