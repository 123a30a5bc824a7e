"""The limits of one conversation, told to the tab that sent past them (the API's are in
tests/conversations/test_session_limits.py)."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import sync_to_async

from chatbot.env import parse_rate
from conversations.models import Message
from tests.conversations.test_session_limits import TOO_LONG, spent
from tests.factories import UserFactory, conversation
from tests.web.conftest import receive_until, settle

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_tab_is_told_of_either_limit(upstream, sockets, settings):
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4()}"}
    }
    settings.CHATBOT_RATE_LIMIT = None
    settings.CHATBOT_CONVERSATION_TOKEN_LIMIT = 100
    settings.CHATBOT_SESSION_RATE_LIMIT = parse_rate("1/hour")
    user = await sync_to_async(UserFactory)()
    full = await sync_to_async(spent)(
        await sync_to_async(conversation)(user, turns=1), prompt=100, completion=0
    )
    socket = await sockets(user)

    await socket.send_json_to({"type": "send", "text": "more", "sessionId": str(full.pk)})
    too_long = await socket.receive_json_from(timeout=5)
    await socket.send_json_to({"type": "send", "text": "first"})
    events = await receive_until(socket, "reply")
    await settle(events[-1]["message"]["messageId"])
    session_id = events[0]["sessionId"]
    await socket.send_json_to({"type": "send", "text": "second", "sessionId": session_id})
    too_fast = await receive_until(socket, "error")

    assert too_long == {"type": "error", "detail": TOO_LONG, "code": "conversation_limit"}
    assert too_fast[-1]["code"] == "conversation_rate_limited"
    assert too_fast[-1]["retryAfter"] >= 1
    assert await Message.objects.filter(session_id=session_id).acount() == 2
