"""The WebSocket's handlers asserted exactly (issue 23): send, regenerate, stop, resume and
switch, the turn they announce to every tab of the user (never another user's), the reply
they start, and the group events as each tab gets them, with their bubbles.

The consumer runs as the ASGI app would run it for one tab, without the socket: what it
sends is recorded, and the events of the user's group reach it when the test delivers them.
The reply is not run (``replies.start_reply`` records its turn): ``test_consumer.py`` and
``test_consumer_strength.py`` follow replies end to end through a real socket."""

from __future__ import annotations

import json
import re

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session

from accounts.models import User
from attachments import selectors as attachment_selectors
from attachments.models import MessageAttachment
from conversations import consumers, events, payloads, rendering, replies, selectors
from conversations.models import ChatSession, Message
from conversations.services import Turn
from tests.attachments.samples import stored as stored_file
from tests.factories import MessageFactory, UserFactory, conversation
from tests.web.conftest import session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

SIGNED_OUT = {"type": "websocket.close", "code": 4401, "reason": "signed out"}
NO_MESSAGE = {"type": "error", "detail": "Message not found.", "code": "not_found"}
NO_CONVERSATION = {"type": "error", "detail": "Conversation not found.", "code": "not_found"}


@pytest.fixture(autouse=True)
def in_process(settings, monkeypatch, tmp_path):
    """The in-process channel layer (its queues are read here), a local cache, files on
    disk, and no reply run: ``started`` holds the turns whose reply would start."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "chatbot.forks.layers.FastGroupSendLayer",
            "CONFIG": {"capacity": 1000},
        }
    }
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # The settings' one model, "test-model", never asked (no reply runs).
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    settings.OPENAI_API_KEY = "sk-test-secret-key"
    settings.CHATBOT_MODEL = "test-model"
    storages = dict(settings.STORAGES)
    storages["attachments"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": tmp_path / "attachments"},
    }
    settings.STORAGES = storages


@pytest.fixture
def started(monkeypatch) -> list[Turn]:
    turns: list[Turn] = []
    monkeypatch.setattr(replies, "start_reply", turns.append)
    return turns


@pytest.fixture
def stops(monkeypatch) -> list:
    stopped: list = []

    async def stop_reply(reply_id) -> None:
        stopped.append(reply_id)

    monkeypatch.setattr(replies, "stop_reply", stop_reply)
    return stopped


class Tab:
    """One tab's consumer: ``sent`` holds what it sent until the test takes it."""

    def __init__(self, consumer: consumers.ChatConsumer) -> None:
        self.consumer = consumer
        self.sent: list[dict] = []

    async def base_send(self, message: dict) -> None:
        self.sent.append(message)

    async def say(self, content) -> list[dict]:
        """Send a message from the browser; what the tab was sent in answer."""
        await self.consumer.receive(text_data=json.dumps(content))
        return self.take()

    def take(self) -> list[dict]:
        frames = [
            json.loads(message["text"]) if message["type"] == "websocket.send" else message
            for message in self.sent
        ]
        self.sent.clear()
        return frames

    async def deliver(self) -> list[dict]:
        """The events waiting in the tab's channel, handled as the consumer handles them;
        what the tab sent for them."""
        layer = get_channel_layer()
        while self.consumer.channel_name in layer.channels:
            await self.consumer.dispatch(await layer.receive(self.consumer.channel_name))
        return self.take()


async def open_tab(user, key: str | None = None) -> Tab:
    key = key or await session_cookie(user)
    consumer = consumers.ChatConsumer()
    layer = get_channel_layer()
    consumer.scope = {"type": "websocket", "user": user, "session": SessionStore(key)}
    consumer.channel_layer = layer
    consumer.channel_name = await layer.new_channel()
    tab = Tab(consumer)
    consumer.base_send = tab.base_send
    await consumer.connect()
    assert [message["type"] for message in tab.sent] == ["websocket.accept"]
    tab.sent.clear()
    return tab


async def new_user(**fields) -> User:
    return await sync_to_async(UserFactory)(**fields)


@sync_to_async
def rows_of(session_id) -> list[tuple]:
    return list(
        Message.objects.filter(session_id=session_id)
        .order_by("sequence")
        .values_list("role", "content", "status", "parent_id")
    )


@sync_to_async
def payload_of(message_id) -> dict:
    return dict(payloads.message_payload(Message.objects.get(pk=message_id)))


async def answered(turn: Turn) -> None:
    """The turn's reply as its run would end it (none runs here)."""
    await Message.objects.filter(pk=turn.reply.pk).aupdate(status="complete", content="done")


def without_html(message: dict) -> dict:
    return {key: value for key, value in message.items() if key != "html"}


async def stranger_state():
    """Another user with an open tab and a conversation of theirs: never reached."""
    stranger = await new_user()
    session = await sync_to_async(conversation)(stranger, turns=1)
    return stranger, session, await open_tab(stranger), await rows_of(session.pk)


# --- send ---------------------------------------------------------------------------------


async def test_a_send_announces_its_turn_to_every_tab_of_the_user_and_starts_its_reply(
    started,
):
    user = await new_user()
    first, second = await open_tab(user), await open_tab(user)
    stranger, _, strangers_tab, _ = await stranger_state()

    assert await first.say({"type": "send", "text": "Hello there", "requestId": "r1"}) == []
    [turn] = started
    session = await ChatSession.objects.aget(user=user)
    question, reply = await sync_to_async(list)(session.messages.order_by("sequence"))
    assert (turn.session.pk, turn.user_message.pk, turn.reply.pk) == (
        session.pk,
        question.pk,
        reply.pk,
    )
    assert await rows_of(session.pk) == [
        ("user", "Hello there", "complete", None),
        ("assistant", "", "streaming", question.pk),
    ]

    for tab in (first, second):
        [event] = await tab.deliver()
        assert without_html(event["userMessage"]) == await payload_of(question.pk)
        assert without_html(event["reply"]) == await payload_of(reply.pk)
        assert {key: value for key, value in event.items() if key[0] in "tcrs"} == {
            "type": "turn",
            "sessionId": str(session.pk),
            "created": True,
            "regenerated": False,
            "requestId": "r1",
            "reply": event["reply"],
            "sessionHtml": event["sessionHtml"],
        }
        assert sorted(event) == [
            "created",
            "regenerated",
            "reply",
            "requestId",
            "sessionHtml",
            "sessionId",
            "type",
            "userMessage",
        ]
        user_html, reply_html = event["userMessage"]["html"], event["reply"]["html"]
        assert f'id="m-{question.pk}"' in user_html and 'data-role="user"' in user_html
        assert '<div class="message-body plain">Hello there</div>' in user_html
        assert f'id="m-{reply.pk}"' in reply_html and 'data-status="streaming"' in reply_html
        assert 'data-role="assistant"' in reply_html
        assert f'<li class="session-item" data-session-id="{session.pk}"' in event["sessionHtml"]
        assert ">New chat</a>" in event["sessionHtml"]
    assert await strangers_tab.deliver() == []
    assert await ChatSession.objects.filter(user=stranger).acount() == 1


async def test_a_send_continues_edits_and_picks_its_model_as_the_message_says(started):
    user = await new_user()
    tab = await open_tab(user)
    _, strangers_session, _, strangers_rows = await stranger_state()
    session = await sync_to_async(conversation)(user, turns=1, title="Kept")
    assert session.model == ""
    other = await sync_to_async(conversation)(user, turns=1, title="Other")
    question = await Message.objects.aget(session=session, content="question 0")
    answer = await Message.objects.aget(session=session, content="answer 0")
    others_rows = await rows_of(other.pk)

    await tab.say({"type": "send", "text": "more", "sessionId": str(session.pk)})
    [event] = await tab.deliver()
    assert (event["sessionId"], event["created"]) == (str(session.pk), False)
    assert event["userMessage"]["parentId"] == str(answer.pk)
    assert f'data-session-id="{session.pk}"' in event["sessionHtml"]
    assert ">Kept</a>" in event["sessionHtml"]
    await answered(started[-1])

    assert (
        await tab.say(
            {
                "type": "send",
                "text": "instead",
                "sessionId": str(session.pk),
                "editMessageId": str(question.pk),
                "model": "test-model",
            }
        )
        == []
    )
    [event] = await tab.deliver()
    assert event["userMessage"]["siblingIds"][0] == str(question.pk)
    assert event["userMessage"]["parentId"] is None
    assert event["userMessage"]["content"] == "instead"
    assert (await ChatSession.objects.aget(pk=session.pk)).model == "test-model"
    assert [turn.user_message.content for turn in started] == ["more", "instead"]
    assert [turn.session.pk for turn in started] == [session.pk, session.pk]
    assert await rows_of(other.pk) == others_rows
    assert await rows_of(strangers_session.pk) == strangers_rows


async def test_empty_ids_start_a_new_conversation_and_unknown_ones_are_refused(started):
    user = await new_user()
    tab = await open_tab(user)
    _, strangers_session, _, strangers_rows = await stranger_state()
    strangers_question = await Message.objects.aget(session=strangers_session, role="user")

    await tab.say({"type": "send", "text": "fresh", "sessionId": "", "editMessageId": ""})
    await answered(started[-1])
    [event] = await tab.deliver()
    assert (event["created"], event["requestId"]) == (True, None)

    frames = await tab.say(
        {"type": "send", "text": "x", "sessionId": str(strangers_session.pk), "requestId": "r"}
    )
    assert frames == [{**NO_CONVERSATION, "requestId": "r"}]
    frames = await tab.say(
        {"type": "send", "text": "x", "sessionId": "", "editMessageId": str(strangers_question.pk)}
    )
    assert frames == [NO_MESSAGE]
    assert await tab.say({"type": "send", "text": "x", "model": "nope"}) == [
        {"type": "error", "detail": "Unknown model 'nope'.", "code": "invalid"}
    ]
    assert await tab.say({"type": "send", "text": "x", "attachments": "not a list"}) == [
        {"type": "error", "detail": "Send at most 10 file ids as a list.", "code": "invalid"}
    ]
    assert await tab.say({"type": "send", "sessionId": str(strangers_session.pk)}) == [
        {"type": "error", "detail": "The message must be text.", "code": "invalid"}
    ]
    assert len(started) == 1
    assert await ChatSession.objects.filter(user=user).acount() == 1
    assert await rows_of(strangers_session.pk) == strangers_rows
    assert await tab.deliver() == []


async def test_a_send_attaches_the_users_files(started):
    user = await new_user()
    tab = await open_tab(user)
    note = await sync_to_async(stored_file)(user, b"Revenue: 12", "q3.csv")
    await tab.say({"type": "send", "text": "Summarize", "attachments": [str(note.pk)]})
    [event] = await tab.deliver()
    assert [item["fileId"] for item in event["userMessage"]["attachments"]] == [str(note.pk)]
    assert (
        await MessageAttachment.objects.filter(
            message_id=event["userMessage"]["messageId"]
        ).acount()
        == 1
    )


async def test_a_send_after_the_session_ended_closes_the_tab_and_stores_nothing(started):
    user = await new_user()
    tab = await open_tab(user)
    await session_cookie(user)  # another browser's session, live
    await Session.objects.filter(session_key=tab.consumer.session_key).adelete()
    for message in (
        {"type": "send", "text": "hello"},
        {"type": "regenerate", "sessionId": "s"},
        {"type": "retry", "sessionId": "s"},
        {"type": "switch", "sessionId": "s", "currentMessageId": "m"},
    ):
        assert await tab.say(message) == [SIGNED_OUT]
    assert started == []
    assert not await ChatSession.objects.filter(user=user).aexists()


# --- regenerate and retry -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["regenerate", "retry"])
async def test_a_regenerate_announces_a_sibling_reply_and_starts_it(started, kind):
    user = await new_user()
    tab, second = await open_tab(user), await open_tab(user)
    _, strangers_session, strangers_tab, strangers_rows = await stranger_state()
    session = await sync_to_async(conversation)(user, turns=2, title="Mine")
    answers = [
        await Message.objects.aget(session=session, content=f"answer {turn}") for turn in (0, 1)
    ]
    question = await Message.objects.aget(session=session, content="question 1")

    assert await tab.say({"type": kind, "sessionId": str(session.pk), "requestId": "q"}) == []
    [turn] = started
    assert (turn.session.pk, turn.user_message.pk) == (session.pk, question.pk)
    for each in (tab, second):
        [event] = await each.deliver()
        assert event["type"] == "turn"
        assert (event["sessionId"], event["created"], event["regenerated"]) == (
            str(session.pk),
            False,
            True,
        )
        assert event["requestId"] == "q"
        assert event["userMessage"]["messageId"] == str(question.pk)
        assert event["reply"]["messageId"] == str(turn.reply.pk)
        assert event["reply"]["siblingIds"] == [str(answers[1].pk), str(turn.reply.pk)]
        assert without_html(event["reply"]) == await payload_of(turn.reply.pk)
        assert ">Mine</a>" in event["sessionHtml"]

    # A given reply: its own question is answered again.
    await answered(turn)
    await tab.say({"type": kind, "sessionId": str(session.pk), "messageId": str(answers[0].pk)})
    assert started[-1].user_message.content == "question 0"
    assert started[-1].reply.parent_id == answers[0].parent_id
    await tab.deliver()

    # An empty messageId is the current leaf's, another user's conversation is missing.
    await answered(started[-1])
    await tab.say({"type": kind, "sessionId": str(session.pk), "messageId": ""})
    assert started[-1].user_message.content == "question 0"
    await tab.deliver()
    assert await tab.say({"type": kind, "sessionId": str(strangers_session.pk)}) == [
        NO_CONVERSATION
    ]
    assert await tab.say(
        {"type": kind, "sessionId": str(session.pk), "messageId": str(strangers_session.pk)}
    ) == [NO_MESSAGE]
    assert len(started) == 3
    assert await strangers_tab.deliver() == []
    assert await rows_of(strangers_session.pk) == strangers_rows


# --- stop ---------------------------------------------------------------------------------


async def test_stop_reaches_the_users_streaming_reply_only(stops):
    user = await new_user()
    tab = await open_tab(user)
    _, strangers_session, _, _ = await stranger_state()
    session = await sync_to_async(conversation)(user, turns=1)
    streaming = await sync_to_async(MessageFactory)(
        session=session, role="assistant", status="streaming", content="half"
    )
    done = await Message.objects.aget(session=session, content="answer 0")
    strangers = await sync_to_async(MessageFactory)(
        session=strangers_session, role="assistant", status="streaming", content="theirs"
    )

    assert await tab.say({"type": "stop", "messageId": str(done.pk)}) == []
    assert stops == []
    assert await tab.say({"type": "stop", "messageId": str(streaming.pk)}) == []
    assert stops == [streaming.pk]
    frames = await tab.say({"type": "stop", "messageId": str(strangers.pk), "requestId": "s1"})
    assert frames == [{**NO_MESSAGE, "requestId": "s1"}]
    assert await tab.say({"type": "stop"}) == [NO_MESSAGE]
    assert stops == [streaming.pk]
    assert await tab.deliver() == []


# --- resume -------------------------------------------------------------------------------


async def test_resume_of_a_streaming_reply_asks_its_run_for_the_text_so_far():
    user = await new_user()
    tab = await open_tab(user)
    session = await sync_to_async(conversation)(user, turns=1)
    streaming = await sync_to_async(MessageFactory)(
        session=session, role="assistant", status="streaming", content="half"
    )
    layer = get_channel_layer()
    runner = await layer.new_channel()
    await layer.group_add(events.reply_group(streaming.pk), runner)
    other = await layer.new_channel()
    await layer.group_add(events.reply_group("another-reply"), other)

    assert await tab.say({"type": "resume", "messageId": str(streaming.pk)}) == []
    assert await layer.receive(runner) == {
        "type": "reply.text_request",
        "replyTo": tab.consumer.channel_name,
    }
    assert runner not in layer.channels and other not in layer.channels


async def test_resume_of_an_ended_reply_sends_its_final_row_and_of_anothers_nothing():
    user = await new_user()
    tab = await open_tab(user)
    _, strangers_session, _, _ = await stranger_state()
    session = await sync_to_async(conversation)(user, turns=1)
    answer = await Message.objects.aget(session=session, content="answer 0")
    await Message.objects.filter(pk=answer.pk).aupdate(
        model="test-model", prompt_tokens=7, completion_tokens=3, total_ms=40
    )
    strangers = await Message.objects.aget(session=strangers_session, role="assistant")
    layer = get_channel_layer()
    runner = await layer.new_channel()
    await layer.group_add(events.reply_group(strangers.pk), runner)

    [frame] = await tab.say({"type": "resume", "messageId": str(answer.pk)})
    stored = await sync_to_async(selectors.get_message)(user=user, message_id=answer.pk)
    expected = (await sync_to_async(payloads.reply_event)(stored))["message"]
    assert frame == {
        "type": "reply",
        "message": {
            **expected,
            "html": rendering.render_markdown("answer 0"),
            "bubbleHtml": consumers.bubble_html(expected),
        },
    }
    assert frame["message"]["usage"]["promptTokens"] == 7
    assert await tab.say({"type": "resume", "messageId": str(strangers.pk)}) == []
    assert await tab.say({"type": "resume", "messageId": "not-an-id"}) == []
    assert await tab.say({"type": "resume"}) == []
    assert runner not in layer.channels


# --- switch -------------------------------------------------------------------------------


async def test_switch_makes_the_branch_current_and_tells_every_tab_of_the_user():
    user = await new_user()
    tab, second = await open_tab(user), await open_tab(user)
    _, strangers_session, strangers_tab, strangers_rows = await stranger_state()
    session = await sync_to_async(conversation)(user, turns=1)
    question = await Message.objects.aget(session=session, content="question 0")
    answer = await Message.objects.aget(session=session, content="answer 0")
    other = await sync_to_async(MessageFactory)(
        session=session, role="assistant", content="other", parent=question
    )
    assert (await ChatSession.objects.aget(pk=session.pk)).current_message_id == other.pk

    frames = await tab.say(
        {"type": "switch", "sessionId": str(session.pk), "currentMessageId": str(answer.pk)}
    )
    assert frames == []
    assert (await ChatSession.objects.aget(pk=session.pk)).current_message_id == answer.pk
    expected = {"type": "branch", "sessionId": str(session.pk), "currentMessageId": str(answer.pk)}
    assert await tab.deliver() == [expected]
    assert await second.deliver() == [expected]

    frames = await tab.say(
        {
            "type": "switch",
            "sessionId": str(strangers_session.pk),
            "currentMessageId": str(answer.pk),
        }
    )
    assert frames == [NO_CONVERSATION]
    assert await tab.say({"type": "switch", "sessionId": str(session.pk)}) == [NO_MESSAGE]
    assert await strangers_tab.deliver() == []
    assert await rows_of(strangers_session.pk) == strangers_rows


# --- _announce ----------------------------------------------------------------------------


async def test_a_turn_without_a_reply_is_announced_and_nothing_starts(started):
    user = await new_user()
    tab = await open_tab(user)
    session = await sync_to_async(conversation)(user, turns=1, title="Held")
    question = await Message.objects.aget(session=session, content="question 0")
    await sync_to_async(selectors.with_sibling_ids)([question])
    await sync_to_async(attachment_selectors.with_attached_files)([question])
    turn = Turn(session=session, user_message=question, reply=None)
    await tab.consumer._announce(turn, request_id=None)
    [event] = await tab.deliver()
    assert event["reply"] is None
    assert (event["created"], event["regenerated"], event["requestId"]) == (False, False, None)
    assert event["userMessage"]["messageId"] == str(question.pk)
    assert started == []


# --- Group events, as each tab gets them ---------------------------------------------------


async def test_each_group_event_reaches_the_tab_under_its_own_name():
    user = await new_user()
    tab = await open_tab(user)
    sent = [
        ({"type": "chat.turn", "sessionId": "s", "created": True}, "turn"),
        ({"type": "chat.delta", "content": "x", "offset": 3}, "delta"),
        ({"type": "chat.title", "sessionId": "s", "title": "T"}, "title"),
        ({"type": "chat.branch", "sessionId": "s", "currentMessageId": "m"}, "branch"),
        ({"type": "chat.session_deleted", "sessionId": "s"}, "sessionDeleted"),
    ]
    for event, name in sent:
        await events.publish(user.pk, event)
        assert await tab.deliver() == [{**event, "type": name}]


def reply_payload(**fields) -> dict:
    message = {
        "messageId": "5a0c0b5e-1111-4111-8111-111111111111",
        "sessionId": "5a0c0b5e-2222-4222-8222-222222222222",
        "parentId": None,
        "siblingIds": [],
        "role": "assistant",
        "content": "Some **bold** text",
        "status": "complete",
        "hidden": False,
        "createdAt": "2026-01-01T00:00:00+00:00",
        "attachments": [],
        "feedback": None,
    }
    return {**message, **fields}


USAGE = {
    "model": "test-model",
    "promptTokens": 11,
    "completionTokens": 22,
    "cachedTokens": 33,
    "firstTokenMs": 44,
    "totalMs": 55,
}


def details_of(html: str) -> list[str]:
    return re.findall(r"<dd>([^<]*)</dd>", html)


async def test_a_reply_event_reaches_the_tab_with_its_html_and_bubble():
    user = await new_user()
    tab = await open_tab(user)
    message = reply_payload(usage=USAGE)
    await events.publish(user.pk, {"type": "chat.reply", "message": message})
    [frame] = await tab.deliver()
    assert frame == {
        "type": "reply",
        "message": {
            **message,
            "html": "<p>Some <strong>bold</strong> text</p>\n",
            "bubbleHtml": consumers.bubble_html(message),
        },
    }
    bubble = frame["message"]["bubbleHtml"]
    assert bubble.startswith(
        '<article class="message message-assistant" id="m-5a0c0b5e-1111-4111-8111-111111111111"'
        ' data-message-id="5a0c0b5e-1111-4111-8111-111111111111" data-role="assistant"'
        ' data-status="complete">'
    )
    assert '<div class="message-body md"><p>Some <strong>bold</strong> text</p>' in bubble
    assert details_of(bubble) == ["test-model", "11", "22", "33", "44 ms", "55 ms"]


def test_a_bubble_shows_each_usage_figure_under_its_own_name():
    bubble = consumers.bubble_html(reply_payload(usage=USAGE))
    assert details_of(bubble) == ["test-model", "11", "22", "33", "44 ms", "55 ms"]
    assert 'data-model="test-model"' in bubble
    unknown = {**USAGE, "promptTokens": None, "completionTokens": None}
    unknown |= {"cachedTokens": None, "firstTokenMs": None, "totalMs": None}
    assert details_of(consumers.bubble_html(reply_payload(usage=unknown))) == [
        "test-model",
        *["—"] * 5,
    ]
    assert consumers._usage_fields(None) == {}
    assert consumers._usage_fields(USAGE) == {
        "model": "test-model",
        "prompt_tokens": 11,
        "completion_tokens": 22,
        "cached_tokens": 33,
        "first_token_ms": 44,
        "total_ms": 55,
    }
    # Without usage (a turn's bubbles) there are no details.
    assert "reply-details" not in consumers.bubble_html(reply_payload())


def test_a_bubble_shows_the_status_the_text_and_why_it_failed():
    failed = consumers.bubble_html(reply_payload(status="failed", content="", error="Too long."))
    assert 'data-status="failed"' in failed
    assert '<p class="message-note note-error">Too long.</p>' in failed
    plain = consumers.bubble_html(reply_payload(status="failed", content=""))
    assert '<p class="message-note note-error">The reply could not be completed.</p>' in plain
    hidden = consumers.bubble_html(reply_payload(hidden=True, content=""))
    assert "This message was removed by a moderator." in hidden
    assert "Some" not in consumers.bubble_html(reply_payload(hidden=True, content=""))
    shown = consumers.bubble_html(reply_payload())
    assert "This message was removed by a moderator." not in shown
    streaming = consumers.bubble_html(reply_payload(status="streaming", content="so far"))
    assert 'data-text="so far"' in streaming
    question = consumers.bubble_html(reply_payload(role="user", content="Why?"))
    assert 'data-role="user"' in question and '<div class="message-body plain">Why?</div>' in (
        question
    )


def test_a_rendered_message_is_its_payload_with_its_bubble():
    message = reply_payload(usage=USAGE)
    assert consumers.rendered(message) == {**message, "html": consumers.bubble_html(message)}
