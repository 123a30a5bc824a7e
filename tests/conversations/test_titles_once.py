"""A conversation's title is asked of the model once, even when its next turn ends before
the first title is stored."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from conversations import replies, services
from conversations.models import ChatSession
from loopback.upstream import Behaviour
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def title_requests(upstream) -> list[str]:
    """The user message of each title request received."""
    return [
        body["messages"][-1]["content"]
        for body in upstream.chat_requests()
        if body["messages"][0]["content"].startswith("Write a short title")
    ]


async def test_a_turn_ending_while_the_first_title_is_asked_for_asks_for_none(upstream):
    user = await sync_to_async(UserFactory)()
    # The first reply, then its title, slow enough for the second turn to end meanwhile.
    upstream.push(Behaviour(), Behaviour(content="Greetings", first_token_delay=1.0))
    first = await services.send_message(user=user, text="Hello there")
    first_run = replies.start_reply(first)
    await first_run.result()

    second = await services.send_message(user=user, text="And now?", session_id=first.session.pk)
    second_run = replies.start_reply(second)
    await second_run.result()
    await asyncio.wait_for(asyncio.gather(first_run.task, second_run.task), 10)

    assert title_requests(upstream) == ["Hello there"]
    session = await ChatSession.objects.aget(pk=first.session.pk)
    assert session.title == "Greetings"


async def test_a_turn_that_read_its_conversation_untitled_asks_for_none_once_titled(upstream):
    user = await sync_to_async(UserFactory)()
    upstream.push(Behaviour(), Behaviour(content="Greetings", first_token_delay=0.5))
    first = await services.send_message(user=user, text="Hello there")
    # The second turn begins (and reads its conversation, untitled) before the first's
    # title is stored.
    first_run = replies.start_reply(first)
    await first_run.result()
    second = await services.send_message(user=user, text="And now?", session_id=first.session.pk)
    await asyncio.wait_for(first_run.task, 10)
    assert second.session.title == ""

    second_run = replies.start_reply(second)
    await second_run.result()
    await asyncio.wait_for(second_run.task, 10)

    assert title_requests(upstream) == ["Hello there"]
