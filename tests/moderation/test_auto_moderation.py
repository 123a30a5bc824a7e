"""Automatic moderation (CHATBOT_MODERATION = off, flag, block) against the loopback
upstream's /v1/moderations, which flags any text containing "FLAGME"."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from conversations import services
from conversations.errors import MessageBlocked, ModerationUnavailable, NothingToRegenerate
from conversations.models import ChatSession, Message
from tests.factories import UserFactory
from tests.replying import send

pytestmark = pytest.mark.django_db(transaction=True)


def moderation_requests(upstream) -> list[dict]:
    return [r["body"] for r in upstream.requests if r["path"].endswith("/moderations")]


def stored(session_id=None) -> list[dict]:
    messages = Message.objects.order_by("session_id", "sequence")
    if session_id is not None:
        messages = messages.filter(session_id=session_id)
    return list(
        messages.values(
            "role", "content", "status", "flagged", "flag_categories", "moderation_failed"
        )
    )


def user_said(upstream) -> list[str]:
    return [m["content"] for body in upstream.reply_requests() for m in body["messages"][1:]]


async def test_off_sends_no_moderation_request(upstream, settings):
    settings.CHATBOT_MODERATION = "off"
    user = await sync_to_async(UserFactory)()
    finished = await send(user, "FLAGME please")
    assert finished.error is None and finished.message.content == "You said: FLAGME please"
    assert moderation_requests(upstream) == []
    [message] = [m for m in await sync_to_async(stored)() if m["role"] == "user"]
    assert not message["flagged"] and not message["moderation_failed"]


async def test_flag_marks_the_message_and_session_and_the_chat_goes_on(upstream, settings):
    settings.CHATBOT_MODERATION = "flag"
    user = await sync_to_async(UserFactory)()
    finished = await send(user, "FLAGME you")
    assert finished.error is None and finished.message.content == "You said: FLAGME you"
    assert moderation_requests(upstream) == [
        {"model": settings.CHATBOT_MODERATION_MODEL, "input": "FLAGME you"}
    ]
    question, answer = await sync_to_async(stored)(finished.message.session_id)
    assert question["flagged"] and question["flag_categories"] == ["harassment"]
    assert not question["moderation_failed"]
    assert answer["status"] == "complete" and not answer["flagged"]
    assert (await ChatSession.objects.aget(pk=finished.message.session_id)).flagged


async def test_flag_leaves_clean_messages_and_sessions_unflagged(upstream, settings):
    settings.CHATBOT_MODERATION = "flag"
    user = await sync_to_async(UserFactory)()
    finished = await send(user, "a friendly question")
    assert len(moderation_requests(upstream)) == 1
    question, _answer = await sync_to_async(stored)(finished.message.session_id)
    assert not question["flagged"] and question["flag_categories"] == []
    assert not (await ChatSession.objects.aget(pk=finished.message.session_id)).flagged


async def test_block_refuses_keeps_the_message_flagged_and_never_calls_the_model(
    upstream, settings
):
    settings.CHATBOT_MODERATION = "block"
    user = await sync_to_async(UserFactory)()
    with pytest.raises(MessageBlocked) as refused:
        await services.send_message(user=user, text="FLAGME now")
    assert refused.value.status_code == 400
    assert "kept for review" in refused.value.detail
    assert upstream.chat_requests() == []
    [message] = await sync_to_async(stored)()
    assert message["role"] == "user" and message["content"] == "FLAGME now"
    assert message["flagged"] and message["flag_categories"] == ["harassment"]
    assert await ChatSession.objects.filter(flagged=True).acount() == 1


async def test_block_lets_clean_messages_through(upstream, settings):
    settings.CHATBOT_MODERATION = "block"
    user = await sync_to_async(UserFactory)()
    finished = await send(user, "all good here")
    assert finished.error is None and finished.message.content == "You said: all good here"


async def test_block_keeps_a_blocked_message_out_of_later_context(upstream, settings):
    settings.CHATBOT_MODERATION = "block"
    user = await sync_to_async(UserFactory)()
    first = await send(user, "hello")
    with pytest.raises(MessageBlocked):
        await services.send_message(
            user=user, text="FLAGME secret", session_id=first.message.session_id
        )
    await send(user, "and now?", session_id=first.message.session_id)
    assert "FLAGME secret" not in user_said(upstream)
    assert user_said(upstream)[-1] == "and now?"


async def test_endpoint_failing_in_flag_mode_records_it_and_the_chat_goes_on(upstream, settings):
    settings.CHATBOT_MODERATION = "flag"
    upstream.moderation.status = 500
    user = await sync_to_async(UserFactory)()
    finished = await send(user, "FLAGME unchecked")
    assert finished.error is None and finished.message.content == "You said: FLAGME unchecked"
    assert moderation_requests(upstream), "the check was attempted"
    question, answer = await sync_to_async(stored)(finished.message.session_id)
    assert question["moderation_failed"] and not question["flagged"]
    assert answer["status"] == "complete"


async def test_endpoint_failing_in_block_mode_refuses_with_503_and_keeps_the_message(
    upstream, settings
):
    settings.CHATBOT_MODERATION = "block"
    upstream.moderation.status = 500
    user = await sync_to_async(UserFactory)()
    with pytest.raises(ModerationUnavailable) as refused:
        await services.send_message(user=user, text="cannot be checked")
    assert refused.value.status_code == 503
    assert "kept" in refused.value.detail and "500" not in refused.value.detail
    assert upstream.chat_requests() == []
    [message] = await sync_to_async(stored)()
    assert message["content"] == "cannot be checked"
    assert message["moderation_failed"] and not message["flagged"]


async def test_block_mode_does_not_answer_an_unchecked_message_on_regenerate(upstream, settings):
    settings.CHATBOT_MODERATION = "block"
    user = await sync_to_async(UserFactory)()
    first = await send(user, "hello")
    upstream.moderation.status = 500
    with pytest.raises(ModerationUnavailable):
        await services.send_message(
            user=user, text="FLAGME unchecked", session_id=first.message.session_id
        )
    upstream.moderation.status = 200
    with pytest.raises(NothingToRegenerate):
        await services.regenerate_reply(user=user, session_id=first.message.session_id)
    assert "FLAGME unchecked" not in user_said(upstream)
    roles = [m["role"] for m in await sync_to_async(stored)(first.message.session_id)]
    assert roles == ["user", "assistant", "user"]


async def test_block_mode_does_not_answer_a_blocked_message_on_regenerate(upstream, settings):
    settings.CHATBOT_MODERATION = "block"
    user = await sync_to_async(UserFactory)()
    first = await send(user, "hello")
    with pytest.raises(MessageBlocked):
        await services.send_message(
            user=user, text="FLAGME again", session_id=first.message.session_id
        )
    with pytest.raises(NothingToRegenerate):
        await services.regenerate_reply(user=user, session_id=first.message.session_id)
    assert "FLAGME again" not in user_said(upstream)
