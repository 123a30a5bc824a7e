"""The browser's WebSocket, asserted exactly (issue 23): the payload of each refusal, the
close code and reason of each ended access, which events reach which socket, and the
bubble a reply event carries. The real ASGI app, services and loopback upstream."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.hashers import make_password
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import OperationalError
from django.utils import timezone

from accounts.models import User
from chatbot.asgi import application
from conversations import consumers, events, rendering, services
from conversations.models import ChatSession, Message
from conversations.replies import stop_key
from loopback.upstream import Behaviour
from tests.factories import MessageFactory, UserFactory, conversation
from tests.web.conftest import ORIGIN, receive_until, session_cookie, settle

pytestmark = pytest.mark.django_db(transaction=True)
# Seconds to wait for a frame: the first send of a process (a mutant's test run) loads
# the tokenizer and templates, seconds on a loaded machine.
WAIT = 20

INVALID_FRAME = {"type": "error", "detail": "Messages must be JSON objects.", "code": "invalid"}
SIGNED_OUT = {"type": "websocket.close", "code": 4401, "reason": "signed out"}
DEACTIVATED = {"type": "websocket.close", "code": 4403, "reason": "deactivated"}


@pytest.fixture
async def tabs():
    """Opens a signed-in socket for a user (a new browser session, or ``key``'s), returns
    it with its session key, and closes what is left open afterwards."""
    opened: list[WebsocketCommunicator] = []

    async def opener(user, key: str | None = None) -> tuple[WebsocketCommunicator, str]:
        key = key or await session_cookie(user)
        headers = [(b"origin", ORIGIN), (b"host", b"testserver")]
        headers.append((b"cookie", f"sessionid={key}".encode()))
        communicator = WebsocketCommunicator(application, "/ws/chat/", headers=headers)
        connected, _ = await communicator.connect(timeout=WAIT)
        assert connected
        opened.append(communicator)
        return communicator, key

    yield opener
    for communicator in opened:
        if not communicator.future.done():
            await communicator.disconnect()


async def new_user(**fields) -> User:
    return await sync_to_async(UserFactory)(**fields)


async def group_members(group: str) -> set[str]:
    layer = get_channel_layer()
    if isinstance(layer, InMemoryChannelLayer):
        return set(layer.groups.get(group, {}))
    connection = layer.connection(layer.consistent_hash(group))
    return {name.decode() for name in await connection.zrange(layer._group_key(group), 0, -1)}


# --- Frames that are not messages --------------------------------------------------------


async def test_frames_that_are_not_json_objects_get_one_sentence(tabs):
    socket, _ = await tabs(await new_user())
    for frame in ("{not json", "[1, 2]", '"send"', "null"):
        await socket.send_to(text_data=frame)
        assert await socket.receive_json_from(timeout=WAIT) == INVALID_FRAME
    await socket.send_to(bytes_data=b'{"type": "send", "text": "hi"}')
    assert await socket.receive_json_from(timeout=WAIT) == INVALID_FRAME
    await socket.send_to(text_data="[" * 65 + "]" * 65)
    assert await socket.receive_json_from(timeout=WAIT) == {
        "type": "error",
        "detail": "The JSON is nested too deeply: at most 64 levels are allowed.",
        "code": "invalid",
    }
    for kind in ("dance", ["send"], None):
        await socket.send_to(text_data=json.dumps({"type": kind, "requestId": "r1"}))
        assert await socket.receive_json_from(timeout=WAIT) == {
            "type": "error",
            "detail": "Unknown message type.",
            "code": "invalid",
        }
    assert await socket.receive_nothing(timeout=0.1)


async def test_an_outage_is_reported_to_the_tab_that_asked(tabs, monkeypatch):
    def down(**kwargs):
        raise OperationalError("the database is gone")

    monkeypatch.setattr(services, "check_send", down)
    socket, _ = await tabs(await new_user())
    await socket.send_json_to({"type": "send", "text": "hello", "requestId": "r5"})
    assert await socket.receive_json_from(timeout=WAIT) == {
        "type": "error",
        "detail": "The service is temporarily unavailable. Please try again in a moment.",
        "code": "service_unavailable",
        "requestId": "r5",
    }


# --- What a send and a regenerate pass on -------------------------------------------------


async def test_empty_ids_mean_none_and_the_turn_says_what_it_was(upstream, tabs):
    user = await new_user()
    socket, _ = await tabs(user)
    await socket.send_json_to(
        {"type": "send", "text": "first", "sessionId": "", "editMessageId": ""}
    )
    turn = await socket.receive_json_from(timeout=WAIT)
    assert (turn["created"], turn["regenerated"], turn["requestId"]) == (True, False, None)
    first = (await receive_until(socket, "reply"))[-1]["message"]
    await settle(first["messageId"])
    session_id = turn["sessionId"]

    await socket.send_json_to(
        {"type": "regenerate", "sessionId": session_id, "messageId": "", "requestId": "r2"}
    )
    again = (await receive_until(socket, "turn"))[-1]  # after the first turn's title
    assert (again["created"], again["regenerated"], again["requestId"]) == (False, True, "r2")
    assert again["sessionId"] == session_id
    assert again["userMessage"]["content"] == "first"
    assert again["reply"]["siblingIds"] == [first["messageId"], again["reply"]["messageId"]]
    await settle((await receive_until(socket, "reply"))[-1]["message"]["messageId"])
    assert await ChatSession.objects.filter(user=user).acount() == 1


async def test_a_send_passes_on_the_model_and_the_attachments(upstream, tabs):
    user = await new_user()
    socket, _ = await tabs(user)
    await socket.send_json_to({"type": "send", "text": "hi", "model": "nope", "requestId": "r3"})
    assert await socket.receive_json_from(timeout=WAIT) == {
        "type": "error",
        "detail": "Unknown model 'nope'.",
        "code": "invalid",
        "requestId": "r3",
    }
    await socket.send_json_to({"type": "send", "text": "hi", "attachments": "not a list"})
    assert await socket.receive_json_from(timeout=WAIT) == {
        "type": "error",
        "detail": "Send at most 10 file ids as a list.",
        "code": "invalid",
    }
    await socket.send_json_to({"type": "send", "text": "hi", "model": "test-model"})
    turn = await socket.receive_json_from(timeout=WAIT)
    reply = (await receive_until(socket, "reply"))[-1]["message"]
    await settle(reply["messageId"])
    assert reply["usage"]["model"] == "test-model"
    assert await ChatSession.objects.filter(pk=turn["sessionId"]).aexists()


async def test_new_custom_instructions_reach_the_model_from_an_open_tab(upstream, tabs):
    user = await new_user()
    socket, _ = await tabs(user)
    await User.objects.filter(pk=user.pk).aupdate(custom_instructions="Answer in French.")
    await socket.send_json_to({"type": "send", "text": "hello"})
    reply = (await receive_until(socket, "reply"))[-1]["message"]
    await settle(reply["messageId"])
    system = upstream.reply_requests()[-1]["messages"][0]
    assert system["role"] == "system"
    assert system["content"].endswith("Instructions from the user:\nAnswer in French.")


# --- An access that ended closes the socket -----------------------------------------------


async def end_session(key: str) -> None:
    await Session.objects.filter(session_key=key).adelete()


async def expire_session(key: str) -> None:
    await Session.objects.filter(session_key=key).aupdate(
        expire_date=timezone.now() - timedelta(seconds=1)
    )


async def change_password(user: User) -> None:
    # Without the signal that closes the sockets at once: the send's own check.
    password = make_password("Another-staple-battery-7")
    await User.objects.filter(pk=user.pk).aupdate(password=password)


@pytest.mark.parametrize(
    ("message", "end", "closed"),
    [
        ({"type": "send", "text": "hello"}, "sign out", SIGNED_OUT),
        ({"type": "send", "text": "hello"}, "expire", SIGNED_OUT),
        ({"type": "send", "text": "hello"}, "password", SIGNED_OUT),
        ({"type": "send", "text": "hello"}, "deactivate", DEACTIVATED),
        ({"type": "send", "text": "hello"}, "delete", SIGNED_OUT),
        ({"type": "regenerate", "sessionId": "s"}, "sign out", SIGNED_OUT),
        ({"type": "switch", "sessionId": "s", "currentMessageId": "m"}, "deactivate", DEACTIVATED),
    ],
)
async def test_a_message_after_the_access_ended_closes_the_socket(
    upstream, tabs, message, end, closed
):
    user = await new_user()
    socket, key = await tabs(user)
    # Live sessions of another browser and another user: only this socket's own counts.
    await session_cookie(user)
    await session_cookie(await new_user())
    if end == "sign out":
        await end_session(key)
    elif end == "expire":
        await expire_session(key)
    elif end == "password":
        await change_password(user)
    elif end == "deactivate":
        await User.objects.filter(pk=user.pk).aupdate(is_active=False)
    else:
        await Message.objects.filter(session__user=user).adelete()
        await sync_to_async(User.objects.filter(pk=user.pk).delete)()
    await socket.send_json_to(message)
    assert await socket.receive_output(timeout=WAIT) == closed
    assert not await ChatSession.objects.filter(user_id=user.pk).aexists()
    assert upstream.requests == []


async def test_a_session_expiring_at_the_check_has_ended(upstream, tabs, monkeypatch):
    user = await new_user()
    socket, key = await tabs(user)
    await session_cookie(user)  # another browser's, live
    now = timezone.now()
    await Session.objects.filter(session_key=key).aupdate(expire_date=now)
    monkeypatch.setattr(consumers, "timezone", SimpleNamespace(now=lambda: now))
    await socket.send_json_to({"type": "send", "text": "hello"})
    assert await socket.receive_output(timeout=WAIT) == SIGNED_OUT


async def test_a_live_session_keeps_the_socket_open(upstream, tabs):
    user = await new_user()
    socket, key = await tabs(user)
    await Session.objects.filter(session_key=key).aupdate(
        expire_date=timezone.now() + timedelta(seconds=30)
    )
    await socket.send_json_to({"type": "send", "text": "still here"})
    assert (await socket.receive_json_from(timeout=WAIT))["type"] == "turn"
    await settle((await receive_until(socket, "reply"))[-1]["message"]["messageId"])


async def test_closing_a_users_sockets_reaches_the_named_browser_session_only(tabs):
    user, other = await new_user(), await new_user()
    first, first_key = await tabs(user)
    second, _ = await tabs(user)
    stranger, _ = await tabs(other)
    close = sync_to_async(events.close_sockets)
    await close(user.pk, code=4403, reason="suspended", session_key="another-browser")
    assert await first.receive_nothing(timeout=0.2) and await second.receive_nothing(timeout=0)
    await close(user.pk, code=4401, reason="signed out", session_key=first_key)
    assert await first.receive_output(timeout=WAIT) == SIGNED_OUT
    assert await second.receive_nothing(timeout=0.2)
    await close(user.pk, code=4403, reason="suspended")
    assert await second.receive_output(timeout=WAIT) == {
        "type": "websocket.close",
        "code": 4403,
        "reason": "suspended",
    }
    assert await stranger.receive_nothing(timeout=0.2)


# --- Events of the user's group -----------------------------------------------------------


async def test_group_events_reach_every_socket_of_the_user_by_their_type(tabs):
    user, other = await new_user(), await new_user()
    first, _ = await tabs(user)
    second, _ = await tabs(user)
    stranger, _ = await tabs(other)
    sent = [
        ({"type": "chat.turn", "sessionId": "s"}, "turn"),
        ({"type": "chat.delta", "content": "x", "offset": 0}, "delta"),
        ({"type": "chat.title", "sessionId": "s", "title": "T"}, "title"),
        ({"type": "chat.branch", "sessionId": "s", "currentMessageId": "m"}, "branch"),
        ({"type": "chat.session_deleted", "sessionId": "s"}, "sessionDeleted"),
    ]
    for event, name in sent:
        await events.publish(user.pk, event)
        for socket in (first, second):
            assert await socket.receive_json_from(timeout=WAIT) == {**event, "type": name}
    assert await stranger.receive_nothing(timeout=0.2)


async def test_a_closed_socket_leaves_its_users_group(tabs):
    user = await new_user()
    socket, _ = await tabs(user)
    group = events.user_group(user.pk)
    assert len(await group_members(group)) == 1
    await socket.disconnect()
    assert await group_members(group) == set()


async def test_a_reply_event_carries_its_html_and_the_bubble_with_its_details(upstream, tabs):
    user = await new_user()
    upstream.push(Behaviour(content="Some **bold** text", cached_tokens=2))
    socket, _ = await tabs(user)
    await socket.send_json_to({"type": "send", "text": "hello there"})
    turn = await socket.receive_json_from(timeout=WAIT)
    assert 'data-status="streaming"' in turn["reply"]["html"]
    assert "reply-details" not in turn["reply"]["html"]
    reply = (await receive_until(socket, "reply"))[-1]["message"]
    await settle(reply["messageId"])
    usage = reply["usage"]
    assert reply["html"] == rendering.render_markdown("Some **bold** text")
    bubble = reply["bubbleHtml"]
    assert f'id="m-{reply["messageId"]}"' in bubble and 'data-status="complete"' in bubble
    details = re.findall(r"<dd>([^<]*)</dd>", bubble)
    assert details == [
        "test-model",
        str(usage["promptTokens"]),
        "3",
        "2",
        f"{usage['firstTokenMs']} ms",
        f"{usage['totalMs']} ms",
    ]
    assert usage["promptTokens"] > 0 and usage["totalMs"] is not None


async def test_resuming_a_failed_reply_shows_the_stored_failure(upstream, tabs):
    user = await new_user()
    session = await sync_to_async(conversation)(user, turns=1)
    question = await Message.objects.aget(session=session, content="question 0")
    failed = await sync_to_async(MessageFactory)(
        session=session, role="assistant", status="failed", content="", parent=question
    )
    socket, _ = await tabs(user)
    await socket.send_json_to({"type": "resume", "messageId": str(failed.pk)})
    event = await socket.receive_json_from(timeout=WAIT)
    assert event["type"] == "reply" and event["message"]["status"] == "failed"
    assert "The reply could not be completed." in event["message"]["bubbleHtml"]
    assert "error" not in event["message"]
    await socket.send_json_to(
        {"type": "resume", "messageId": "5a0c0b5e-1111-4111-8111-111111111111"}
    )
    assert await socket.receive_nothing(timeout=0.3)


async def test_stopping_a_finished_reply_changes_nothing(upstream, tabs):
    user = await new_user()
    session = await sync_to_async(conversation)(user, turns=1)
    answer = await Message.objects.aget(session=session, content="answer 0")
    socket, _ = await tabs(user)
    await socket.send_json_to({"type": "stop", "messageId": str(answer.pk)})
    assert await socket.receive_nothing(timeout=0.3)
    assert await sync_to_async(cache.get)(stop_key(answer.pk)) is None
    assert (await Message.objects.aget(pk=answer.pk)).status == "complete"


async def test_a_failed_reply_bubble_says_why(upstream, tabs, settings):
    settings.CHATBOT_LLM_MAX_RETRIES = 0
    upstream.push(Behaviour(status=400))
    socket, _ = await tabs(await new_user())
    await socket.send_json_to({"type": "send", "text": "hello"})
    reply = (await receive_until(socket, "reply"))[-1]["message"]
    await settle(reply["messageId"])
    assert reply["status"] == "failed"
    assert reply["error"] == "The assistant could not answer this request."
    assert (
        '<p class="message-note note-error">The assistant could not answer this request.</p>'
        in (reply["bubbleHtml"])
    )
