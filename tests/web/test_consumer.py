"""The browser's WebSocket, end to end: the real ASGI app (origin check, session auth),
the real services and background replies, the loopback model upstream."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import sync_to_async

from accounts.models import User
from chatbot.env import parse_rate
from conversations.models import ChatSession, Message
from loopback.upstream import Behaviour
from tests.factories import MessageFactory, UserFactory, conversation
from tests.recording import record_db_trips, record_thread_hops
from tests.web.conftest import receive_until, settle

pytestmark = pytest.mark.django_db(transaction=True)
# Seconds to wait for a frame: the first send of a process (a mutant's test run) loads
# the tokenizer and templates, seconds on a loaded machine.
WAIT = 20


def rows(session_id) -> list[tuple[str, str, str]]:
    return list(
        Message.objects.filter(session_id=session_id)
        .order_by("sequence")
        .values_list("role", "status", "content")
    )


async def test_send_streams_deltas_then_the_reply_as_sanitized_html(upstream, sockets):
    user = await sync_to_async(UserFactory)()
    upstream.push(
        Behaviour(content="Here is **bold** <img src=x onerror=alert(1)>", token_gap=0.02)
    )
    socket = await sockets(user)
    await socket.send_json_to({"type": "send", "text": "Hello there", "requestId": "r1"})

    turn = await socket.receive_json_from(timeout=WAIT)
    assert turn["type"] == "turn" and turn["created"] is True and turn["requestId"] == "r1"
    assert turn["userMessage"]["content"] == "Hello there"
    assert "Hello there" in turn["userMessage"]["html"]
    assert turn["reply"]["status"] == "streaming"
    assert turn["sessionId"] in turn["sessionHtml"]

    events = await receive_until(socket, "reply")
    deltas = [e["content"] for e in events if e["type"] == "delta"]
    assert len(deltas) >= 2, "the reply should arrive in several pieces"
    assert "".join(deltas) == "Here is **bold** <img src=x onerror=alert(1)>"
    reply = events[-1]["message"]
    assert reply["status"] == "complete"
    assert "<strong>bold</strong>" in reply["html"]
    assert "<img" not in reply["html"] and "onerror=alert" not in reply["html"].replace(
        "&lt;img src=x onerror=alert(1)&gt;", ""
    )
    assert "<strong>bold</strong>" in reply["bubbleHtml"]

    title = await receive_until(socket, "title")
    assert title[-1]["sessionId"] == turn["sessionId"]
    await settle(reply["messageId"])
    assert await sync_to_async(rows)(turn["sessionId"]) == [
        ("user", "complete", "Hello there"),
        ("assistant", "complete", "Here is **bold** <img src=x onerror=alert(1)>"),
    ]


async def test_continuing_a_conversation_appends_to_it(upstream, sockets):
    user = await sync_to_async(UserFactory)()
    session = await sync_to_async(conversation)(user, turns=1)
    socket = await sockets(user)
    await socket.send_json_to({"type": "send", "text": "And again", "sessionId": str(session.pk)})
    turn = await socket.receive_json_from(timeout=WAIT)
    assert turn["created"] is False and turn["sessionId"] == str(session.pk)
    reply = (await receive_until(socket, "reply"))[-1]["message"]
    await settle(reply["messageId"])
    assert [content for _, _, content in await sync_to_async(rows)(session.pk)] == [
        "question 0",
        "answer 0",
        "And again",
        "You said: And again",
    ]


async def test_stop_ends_the_reply_cancelled_and_keeps_the_partial_text(upstream, sockets):
    user = await sync_to_async(UserFactory)()
    upstream.push(Behaviour(tokens=300, token_gap=0.02))
    socket = await sockets(user)
    await socket.send_json_to({"type": "send", "text": "Count slowly"})
    turn = await socket.receive_json_from(timeout=WAIT)
    reply_id = turn["reply"]["messageId"]
    await receive_until(socket, "delta")
    await socket.send_json_to({"type": "stop", "messageId": reply_id})

    reply = (await receive_until(socket, "reply"))[-1]["message"]
    assert reply["status"] == "cancelled"
    assert reply["content"].startswith("tok0 ")
    assert "tok299" not in reply["content"]
    await settle(reply_id)
    stored = await Message.objects.aget(pk=reply_id)
    assert stored.status == "cancelled" and stored.content == reply["content"]


async def test_regenerate_keeps_the_last_answer_beside_the_new_one(upstream, sockets):
    user = await sync_to_async(UserFactory)()
    session = await sync_to_async(conversation)(user, turns=1)
    upstream.push(Behaviour(content="A better answer"))
    socket = await sockets(user)
    await socket.send_json_to({"type": "regenerate", "sessionId": str(session.pk)})
    turn = await socket.receive_json_from(timeout=WAIT)
    assert turn["type"] == "turn" and turn["regenerated"] is True
    assert turn["userMessage"]["content"] == "question 0"
    reply = (await receive_until(socket, "reply"))[-1]["message"]
    assert reply["content"] == "A better answer"
    await settle(reply["messageId"])
    assert await sync_to_async(rows)(session.pk) == [
        ("user", "complete", "question 0"),
        ("assistant", "complete", "answer 0"),
        ("assistant", "complete", "A better answer"),
    ]
    old = await Message.objects.aget(session=session, content="answer 0")
    assert turn["reply"]["parentId"] == turn["userMessage"]["messageId"] == str(old.parent_id)
    assert turn["reply"]["siblingIds"] == [str(old.pk), reply["messageId"]]
    assert reply["siblingIds"] == [str(old.pk), reply["messageId"]]


async def test_retry_after_a_failed_reply_answers_again(upstream, sockets):
    user = await sync_to_async(UserFactory)()
    upstream.push(Behaviour(status=500), Behaviour(status=500), Behaviour(status=500))
    socket = await sockets(user)
    await socket.send_json_to({"type": "send", "text": "Are you there?"})
    turn = await socket.receive_json_from(timeout=WAIT)
    failed = (await receive_until(socket, "reply"))[-1]["message"]
    assert failed["status"] == "failed"
    assert failed["error"].startswith("The assistant is unavailable right now.")
    assert "Retry" in failed["bubbleHtml"]
    await settle(failed["messageId"])

    upstream.reset()
    await socket.send_json_to({"type": "retry", "sessionId": turn["sessionId"]})
    retried = (await receive_until(socket, "reply"))[-1]["message"]
    assert retried["status"] == "complete" and retried["content"] == "You said: Are you there?"
    await settle(retried["messageId"])


async def test_a_second_tab_sees_the_same_messages_arrive(upstream, sockets):
    user = await sync_to_async(UserFactory)()
    first, second = await sockets(user), await sockets(user)
    await first.send_json_to({"type": "send", "text": "Seen twice"})
    turn_in_second = await second.receive_json_from(timeout=WAIT)
    assert turn_in_second["type"] == "turn"
    assert turn_in_second["userMessage"]["content"] == "Seen twice"
    reply = (await receive_until(second, "reply"))[-1]["message"]
    assert reply["content"] == "You said: Seen twice"
    await receive_until(first, "reply")
    await settle(reply["messageId"])


async def test_the_reply_keeps_generating_after_the_tab_closes(upstream, sockets):
    user = await sync_to_async(UserFactory)()
    upstream.push(Behaviour(tokens=20, token_gap=0.02))
    socket = await sockets(user)
    await socket.send_json_to({"type": "send", "text": "Long answer please"})
    turn = await socket.receive_json_from(timeout=WAIT)
    await receive_until(socket, "delta")
    await socket.disconnect()
    await settle(turn["reply"]["messageId"])
    stored = await Message.objects.aget(pk=turn["reply"]["messageId"])
    assert stored.status == "complete"
    assert stored.content == "".join(f"tok{i} " for i in range(20))


async def test_another_users_session_and_message_are_refused_like_missing_ones(upstream, sockets):
    owner, intruder = await sync_to_async(UserFactory)(), await sync_to_async(UserFactory)()
    session = await sync_to_async(conversation)(owner, turns=1)
    reply = await sync_to_async(MessageFactory)(
        session=session, role="assistant", status="streaming", content="partial"
    )
    socket = await sockets(intruder)
    for message in (
        {"type": "send", "text": "let me in", "sessionId": str(session.pk)},
        {"type": "regenerate", "sessionId": str(session.pk)},
        {"type": "send", "text": "missing", "sessionId": "5a0c0b5e-1111-4111-8111-111111111111"},
    ):
        await socket.send_json_to(message)
        error = await socket.receive_json_from(timeout=WAIT)
        assert error == {"type": "error", "detail": "Conversation not found.", "code": "not_found"}
    await socket.send_json_to({"type": "stop", "messageId": str(reply.pk)})
    error = await socket.receive_json_from(timeout=WAIT)
    assert error == {"type": "error", "detail": "Message not found.", "code": "not_found"}
    assert await Message.objects.filter(session=session).acount() == 3
    assert (await Message.objects.aget(pk=reply.pk)).status == "streaming"
    assert await socket.receive_nothing(timeout=0.2)


async def test_anonymous_connections_are_refused(sockets):
    socket = await sockets(None)
    assert socket.connected is False
    assert socket.close_code == 4401


async def test_connections_from_another_origin_are_refused(sockets):
    user = await sync_to_async(UserFactory)()
    socket = await sockets(user, origin=b"http://evil.example")
    assert socket.connected is False


async def test_bad_messages_get_an_error_and_the_socket_stays_usable(upstream, sockets):
    user = await sync_to_async(UserFactory)()
    socket = await sockets(user)
    await socket.send_to(text_data="{not json")
    assert (await socket.receive_json_from(timeout=WAIT))[
        "detail"
    ] == "Messages must be JSON objects."
    await socket.send_to(text_data="[1, 2]")
    assert (await socket.receive_json_from(timeout=WAIT))["code"] == "invalid"
    await socket.send_json_to({"type": "dance"})
    assert (await socket.receive_json_from(timeout=WAIT))["detail"] == "Unknown message type."
    await socket.send_json_to({"type": "send", "text": "   ", "requestId": "r9"})
    assert await socket.receive_json_from(timeout=WAIT) == {
        "type": "error",
        "detail": "The message cannot be empty.",
        "code": "invalid",
        "requestId": "r9",
    }
    await socket.send_json_to({"type": "send", "text": 42})
    assert (await socket.receive_json_from(timeout=WAIT))["detail"] == "The message must be text."
    await socket.send_json_to({"type": "stop", "messageId": None})
    assert (await socket.receive_json_from(timeout=WAIT))["code"] == "not_found"
    await socket.send_json_to({"type": "send", "text": "still here?"})
    turn = await socket.receive_json_from(timeout=WAIT)
    assert turn["type"] == "turn"
    reply = (await receive_until(socket, "reply"))[-1]["message"]
    await settle(reply["messageId"])


async def test_a_suspended_user_is_told_and_nothing_is_stored(upstream, sockets):
    user = await sync_to_async(UserFactory)()
    socket = await sockets(user)
    # Without the close event (another process, a layer that was down): the send's own check.
    await User.objects.filter(pk=user.pk).aupdate(chat_suspended=True)
    await socket.send_json_to({"type": "send", "text": "hello"})
    error = await socket.receive_json_from(timeout=WAIT)
    assert error["code"] == "suspended" and "suspended" in error["detail"]
    assert not await ChatSession.objects.filter(user=user).aexists()


async def test_rate_limit_errors_say_when_to_retry(upstream, sockets, settings):
    # A fresh key prefix: with Redis, counts of an earlier run for the same user id persist.
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4()}"}
    }
    settings.CHATBOT_RATE_LIMIT = parse_rate("1/hour")
    user = await sync_to_async(UserFactory)()
    socket = await sockets(user)
    await socket.send_json_to({"type": "send", "text": "first"})
    reply = (await receive_until(socket, "reply"))[-1]["message"]
    await socket.send_json_to({"type": "send", "text": "second"})
    error = await receive_until(socket, "error")
    assert error[-1]["code"] == "rate_limited"
    assert error[-1]["retryAfter"] >= 1
    assert "Try again in" in error[-1]["detail"]
    await settle(reply["messageId"])


async def test_streamed_deltas_reach_a_tab_without_thread_hops(upstream, sockets, monkeypatch):
    # Channels' stock dispatch runs close_old_connections in a thread before every message,
    # a hop per delta; the consumer's database work has its own threads (conversations.db).
    user = await sync_to_async(UserFactory)()
    upstream.push(Behaviour(tokens=30, token_gap=0.005))
    socket = await sockets(user)
    hops = record_thread_hops(monkeypatch)
    await socket.send_json_to({"type": "send", "text": "Count the hops"})
    events = await receive_until(socket, "reply")
    monkeypatch.undo()

    deltas = [event for event in events if event["type"] == "delta"]
    assert "".join(event["content"] for event in deltas) == "".join(f"tok{i} " for i in range(30))
    assert len(deltas) > 5
    assert hops == []
    await settle(events[-1]["message"]["messageId"])


async def test_a_send_from_a_tab_stores_its_turn_in_one_database_trip(
    upstream, sockets, monkeypatch
):
    user = await sync_to_async(UserFactory)()
    upstream.push(Behaviour(tokens=3))
    socket = await sockets(user)
    trips = record_db_trips(monkeypatch)
    await socket.send_json_to({"type": "send", "text": "One trip"})
    events = await receive_until(socket, "reply")
    await settle(events[-1]["message"]["messageId"])
    monkeypatch.undo()

    # The user's fresh flags and the stored turn together; then the reply's end.
    assert trips[:2] == ["ChatConsumer._check_send", "finish_reply"]


def model_saw(upstream) -> list[str]:
    return [m["content"] for m in upstream.reply_requests()[-1]["messages"][1:]]


def current_message_id(session_id):
    return ChatSession.objects.values_list("current_message_id", flat=True).get(pk=session_id)


async def test_an_edit_from_a_tab_is_a_sibling_answered_with_its_branch_only(upstream, sockets):
    user = await sync_to_async(UserFactory)()
    session = await sync_to_async(conversation)(user, turns=2)
    question = await Message.objects.aget(session=session, content="question 1")
    socket = await sockets(user)
    await socket.send_json_to(
        {"type": "send", "text": "Q1 edited", "sessionId": str(session.pk), "editMessageId": "x"}
    )
    assert (await socket.receive_json_from(timeout=WAIT))["code"] == "not_found"
    answer = await Message.objects.aget(session=session, content="answer 1")
    await socket.send_json_to(
        {
            "type": "send",
            "text": "no",
            "sessionId": str(session.pk),
            "editMessageId": str(answer.pk),
        }
    )
    error = await socket.receive_json_from(timeout=WAIT)
    assert error["code"] == "invalid" and "editMessageId" in error["detail"]

    await socket.send_json_to(
        {
            "type": "send",
            "text": "Q1 edited",
            "sessionId": str(session.pk),
            "editMessageId": str(question.pk),
        }
    )
    turn = await socket.receive_json_from(timeout=WAIT)
    edited = turn["userMessage"]
    assert edited["parentId"] == str(question.parent_id)
    assert edited["siblingIds"] == [str(question.pk), edited["messageId"]]
    reply = (await receive_until(socket, "reply"))[-1]["message"]
    await settle(reply["messageId"])
    assert model_saw(upstream) == ["question 0", "answer 0", "Q1 edited"]
    assert str(await sync_to_async(current_message_id)(session.pk)) == reply["messageId"]
    assert await Message.objects.filter(session=session).acount() == 6


async def test_regenerating_a_given_reply_from_a_tab_keeps_it(upstream, sockets):
    user = await sync_to_async(UserFactory)()
    session = await sync_to_async(conversation)(user, turns=2)
    first_answer = await Message.objects.aget(session=session, content="answer 0")
    question = await Message.objects.aget(session=session, content="question 1")
    upstream.push(Behaviour(content="Another first answer"))
    socket = await sockets(user)
    await socket.send_json_to(
        {"type": "regenerate", "sessionId": str(session.pk), "messageId": str(question.pk)}
    )
    error = await socket.receive_json_from(timeout=WAIT)
    assert error["code"] == "invalid" and "messageId" in error["detail"]

    await socket.send_json_to(
        {"type": "regenerate", "sessionId": str(session.pk), "messageId": str(first_answer.pk)}
    )
    turn = await socket.receive_json_from(timeout=WAIT)
    assert turn["regenerated"] is True and turn["userMessage"]["content"] == "question 0"
    reply = (await receive_until(socket, "reply"))[-1]["message"]
    await settle(reply["messageId"])
    assert model_saw(upstream) == ["question 0"]
    assert reply["siblingIds"] == [str(first_answer.pk), reply["messageId"]]
    assert await Message.objects.filter(pk=first_answer.pk, content="answer 0").aexists()
    assert str(await sync_to_async(current_message_id)(session.pk)) == reply["messageId"]


async def test_switching_branch_from_a_tab_tells_every_tab(upstream, sockets):
    user = await sync_to_async(UserFactory)()
    session = await sync_to_async(conversation)(user, turns=1)
    first = await Message.objects.aget(session=session, content="question 0")
    old_answer = await Message.objects.aget(session=session, content="answer 0")
    newer = await sync_to_async(MessageFactory)(
        session=session, role="assistant", content="answer 0 again", parent=first
    )
    socket, other_tab = await sockets(user), await sockets(user)
    await socket.send_json_to(
        {"type": "switch", "sessionId": str(session.pk), "currentMessageId": str(uuid.uuid4())}
    )
    assert (await socket.receive_json_from(timeout=WAIT))["code"] == "not_found"

    await socket.send_json_to(
        {"type": "switch", "sessionId": str(session.pk), "currentMessageId": str(old_answer.pk)}
    )
    expected = {
        "type": "branch",
        "sessionId": str(session.pk),
        "currentMessageId": str(old_answer.pk),
    }
    assert await socket.receive_json_from(timeout=WAIT) == expected
    assert await other_tab.receive_json_from(timeout=WAIT) == expected
    assert await sync_to_async(current_message_id)(session.pk) == old_answer.pk
    # From the question: its newest reply.
    await socket.send_json_to(
        {"type": "switch", "sessionId": str(session.pk), "currentMessageId": str(first.pk)}
    )
    assert (await socket.receive_json_from(timeout=WAIT))["currentMessageId"] == str(newer.pk)
