"""Hiding a message in admin takes it out of what the model sees; unhiding puts it back."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from conversations import payloads, replies, services
from conversations.models import ChatSession, Message
from loopback.upstream import Behaviour
from tests.factories import UserFactory
from tests.moderation.admin_actions import changelist_action
from tests.replying import send

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGES = "/admin/conversations/message/"


async def moderate(client, action: str, session_id, sequences: list[int]) -> None:
    messages = [
        message
        async for message in Message.objects.filter(session_id=session_id, sequence__in=sequences)
    ]
    response = await sync_to_async(changelist_action)(client, MESSAGES, action, messages)
    assert response.status_code == 302


def context_sent(upstream) -> list[str]:
    """What the model received with the last reply request, after the system prompt."""
    return [message["content"] for message in upstream.reply_requests()[-1]["messages"][1:]]


async def test_hidden_messages_are_left_out_of_the_models_context(upstream, moderator_client):
    user = await sync_to_async(UserFactory)()
    first = await send(user, "my secret is 42")
    session_id = first.message.session_id
    await send(user, "and I like tea", session_id=session_id)

    await moderate(moderator_client, "hide", session_id, [1, 2])
    await send(user, "what do you know?", session_id=session_id)
    assert context_sent(upstream) == [
        "and I like tea",
        "You said: and I like tea",
        "what do you know?",
    ]

    await moderate(moderator_client, "unhide", session_id, [1, 2])
    await send(user, "and now?", session_id=session_id)
    assert context_sent(upstream)[:2] == ["my secret is 42", "You said: my secret is 42"]


async def test_regenerate_skips_a_hidden_last_question(upstream, moderator_client):
    user = await sync_to_async(UserFactory)()
    first = await send(user, "first question")
    session_id = first.message.session_id
    await send(user, "second question", session_id=session_id)
    await moderate(moderator_client, "hide", session_id, [3])

    turn = await services.regenerate_reply(user=user, session_id=session_id)
    run = replies.start_reply(turn)
    finished = await run.result()
    await asyncio.wait_for(asyncio.shield(run.task), 5)
    assert finished.message.content == "You said: first question"
    assert context_sent(upstream) == ["first question"]

    # The new answer branches off the first question; every old message is kept.
    def tree():
        rows = Message.objects.filter(session_id=session_id).order_by("sequence")
        return [(m.sequence, m.parent.sequence if m.parent else None, m.hidden) for m in rows]

    assert await sync_to_async(tree)() == [
        (1, None, False),
        (2, 1, False),
        (3, 2, True),
        (4, 3, False),
        (5, 1, False),
    ]
    session = await sync_to_async(ChatSession.objects.get)(pk=session_id)
    assert session.current_message_id == finished.message.pk


async def test_a_reply_hidden_while_it_streams_ends_without_its_text(upstream, moderator_client):
    from conversations.api.streaming import _outcome

    user = await sync_to_async(UserFactory)()
    upstream.push(Behaviour(tokens=40, token_gap=0.01))
    turn = await services.send_message(user=user, text="say something")
    run = replies.start_reply(turn)
    await asyncio.sleep(0.1)
    await moderate(moderator_client, "hide", turn.session.pk, [2])

    finished = await run.result()

    assert finished.message.hidden
    assert payloads.message_payload(finished.message)["content"] == ""
    assert _outcome(turn, finished) == (
        "done",
        {
            "message": "",
            "sessionId": str(turn.session.pk),
            "messageId": str(turn.reply.pk),
            "status": "complete",
        },
    )
    await asyncio.wait_for(asyncio.shield(run.task), 5)
