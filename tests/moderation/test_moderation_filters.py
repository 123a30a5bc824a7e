"""What moderation keeps from the model in later turns: in block mode a message stored while
the moderation endpoint was down is never sent, not even as history."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from conversations import services
from conversations.errors import ModerationUnavailable
from tests.factories import UserFactory
from tests.replying import send

pytestmark = pytest.mark.django_db(transaction=True)


def model_saw(upstream) -> list[str]:
    return [m["content"] for body in upstream.reply_requests() for m in body["messages"][1:]]


async def test_block_mode_never_sends_a_message_stored_while_moderation_was_down(
    upstream, settings
):
    settings.CHATBOT_MODERATION = "block"
    user = await sync_to_async(UserFactory)()
    first = await send(user, "hello")
    session_id = first.message.session_id
    upstream.moderation.status = 500
    with pytest.raises(ModerationUnavailable):
        await services.send_message(user=user, text="unchecked words", session_id=session_id)
    upstream.moderation.status = 200
    await send(user, "and now?", session_id=session_id)
    await send(user, "and later?", session_id=session_id)
    assert model_saw(upstream)[-5:] == [
        "hello",
        "You said: hello",
        "and now?",
        "You said: and now?",
        "and later?",
    ]
    assert "unchecked words" not in model_saw(upstream)


async def test_flag_mode_sends_a_message_stored_while_moderation_was_down(upstream, settings):
    settings.CHATBOT_MODERATION = "flag"
    user = await sync_to_async(UserFactory)()
    upstream.moderation.status = 500
    first = await send(user, "unchecked words")
    upstream.moderation.status = 200
    await send(user, "and now?", session_id=first.message.session_id)
    assert model_saw(upstream)[-3:] == [
        "unchecked words",
        "You said: unchecked words",
        "and now?",
    ]
