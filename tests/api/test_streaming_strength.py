"""The answer of a send (issue 23): each Server-Sent Event frame exactly (the session, the
keep-alive comments, the deltas, the end as ``done`` or ``error``), the stream's headers,
and the collected JSON answer with its status and the replay header. The reply run is a
scripted one, so nothing here needs the database or a model."""

from __future__ import annotations

import json
import uuid
from types import SimpleNamespace

from django.http import StreamingHttpResponse
from django.utils import timezone
from rest_framework.response import Response

from conversations import replies
from conversations.api import streaming
from conversations.errors import LLMUnavailable, SessionNotFound
from conversations.models import Message


def a_turn(*, replayed: bool = False):
    return SimpleNamespace(
        session=SimpleNamespace(pk=uuid.uuid4()),
        user_message=SimpleNamespace(pk=uuid.uuid4()),
        reply=SimpleNamespace(pk=uuid.uuid4()),
        replayed=replayed,
    )


def a_reply(turn, *, content="Hello there", status="complete", hidden=False) -> Message:
    return Message(
        id=turn.reply.pk,
        session_id=turn.session.pk,
        content=content,
        status=status,
        hidden=hidden,
        updated_at=timezone.now(),
    )


class Run:
    """A reply run that has already streamed ``events``."""

    def __init__(self, *events) -> None:
        self._events = events
        self.keepalives: list[float | None] = []

    async def events(self, keepalive=None):
        self.keepalives.append(keepalive)
        for event in self._events:
            yield event

    async def result(self):
        return next(e for e in self._events if isinstance(e, replies.ReplyFinished))


def frame(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def frames_of(response: StreamingHttpResponse) -> list[str]:
    return [
        chunk.decode() if isinstance(chunk, bytes) else chunk
        async for chunk in response.streaming_content
    ]


def test_an_event_is_its_name_and_its_data_as_one_json_line():
    assert streaming.sse_event("delta", {"content": "é\n“x”"}) == (
        'event: delta\ndata: {"content": "é\\n“x”"}\n\n'
    )
    assert streaming.sse_event("done", {}) == "event: done\ndata: {}\n\n"


async def test_a_stream_is_the_session_keepalives_deltas_and_done():
    turn = a_turn()
    reply = a_reply(turn, content="Hello there")
    run = Run(
        None,
        replies.ReplyDelta("Hel"),
        None,
        replies.ReplyDelta("lo there"),
        replies.ReplyFinished(message=reply),
    )

    response = streaming._event_stream_response(turn, run)

    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache"
    assert response["X-Accel-Buffering"] == "no"
    assert await frames_of(response) == [
        frame(
            "session",
            {"sessionId": str(turn.session.pk), "userMessageId": str(turn.user_message.pk)},
        ),
        ": keep-alive\n\n",
        frame("delta", {"content": "Hel"}),
        ": keep-alive\n\n",
        frame("delta", {"content": "lo there"}),
        frame(
            "done",
            {
                "message": "Hello there",
                "sessionId": str(turn.session.pk),
                "messageId": str(turn.reply.pk),
                "status": "complete",
            },
        ),
    ]
    assert run.keepalives == [15.0]


async def test_a_stream_ends_with_the_error_that_ended_the_reply():
    turn = a_turn()
    error = LLMUnavailable("The reply was interrupted. Please try again.")
    run = Run(
        replies.ReplyDelta("half"),
        replies.ReplyFinished(message=a_reply(turn, content="half", status="failed"), error=error),
    )

    frames = [chunk async for chunk in streaming._sse_stream(turn, run)]

    assert frames[1:] == [
        frame("delta", {"content": "half"}),
        frame(
            "error",
            {
                "detail": "The reply was interrupted. Please try again.",
                "code": "model_unavailable",
                "messageId": str(turn.reply.pk),
            },
        ),
    ]


async def test_a_stream_whose_reply_is_gone_ends_not_found():
    turn = a_turn()
    run = Run(replies.ReplyFinished(message=None))

    frames = [chunk async for chunk in streaming._sse_stream(turn, run)]

    assert frames[1:] == [
        frame(
            "error",
            {
                "detail": "Conversation not found.",
                "code": "not_found",
                "messageId": str(turn.reply.pk),
            },
        )
    ]


async def test_a_hidden_reply_is_done_without_its_text():
    turn = a_turn()
    run = Run(replies.ReplyFinished(message=a_reply(turn, content="secret", hidden=True)))
    frames = [chunk async for chunk in streaming._sse_stream(turn, run)]
    assert json.loads(frames[-1].split("data: ", 1)[1])["message"] == ""


def started_or_followed(monkeypatch, run) -> list[tuple[str, object]]:
    calls: list[tuple[str, object]] = []

    def start(turn):
        calls.append(("start", turn))
        return run

    def follow(turn):
        calls.append(("follow", turn))
        return run

    monkeypatch.setattr(replies, "start_reply", start)
    monkeypatch.setattr(replies, "follow_reply", follow)
    return calls


async def test_a_collected_answer_is_the_reply_as_json(monkeypatch):
    turn = a_turn()
    calls = started_or_followed(monkeypatch, Run(replies.ReplyFinished(message=a_reply(turn))))

    response = await streaming.reply_response(turn, stream=False)

    assert isinstance(response, Response) and response.status_code == 200
    assert response.data == {
        "message": "Hello there",
        "sessionId": str(turn.session.pk),
        "messageId": str(turn.reply.pk),
        "status": "complete",
    }
    assert calls == [("start", turn)]
    assert not response.has_header("Idempotent-Replayed")


async def test_a_collected_answer_of_a_failed_reply_is_its_error(monkeypatch):
    turn = a_turn()
    error = LLMUnavailable("The assistant took too long to answer. Please try again.")
    started_or_followed(
        monkeypatch,
        Run(replies.ReplyFinished(message=a_reply(turn, status="failed"), error=error)),
    )

    response = await streaming.reply_response(turn, stream=False)

    assert response.status_code == 503
    assert response.data == {
        "detail": "The assistant took too long to answer. Please try again.",
        "code": "model_unavailable",
        "messageId": str(turn.reply.pk),
        "sessionId": str(turn.session.pk),
    }


async def test_a_collected_answer_of_a_reply_that_is_gone_is_not_found(monkeypatch):
    turn = a_turn()
    started_or_followed(monkeypatch, Run(replies.ReplyFinished(message=None)))

    response = await streaming.reply_response(turn, stream=False)

    assert response.status_code == 404
    assert response.data == {
        "detail": SessionNotFound.default_detail,
        "code": "not_found",
        "messageId": str(turn.reply.pk),
        "sessionId": str(turn.session.pk),
    }


async def test_a_replayed_turn_follows_its_first_reply_and_says_so(monkeypatch):
    turn = a_turn(replayed=True)
    run = Run(replies.ReplyFinished(message=a_reply(turn)))
    calls = started_or_followed(monkeypatch, run)

    collected = await streaming.reply_response(turn, stream=False)
    streamed = await streaming.reply_response(turn, stream=True)

    assert calls == [("follow", turn), ("follow", turn)]
    assert collected["Idempotent-Replayed"] == "true"
    assert streamed["Idempotent-Replayed"] == "true"
    assert isinstance(streamed, StreamingHttpResponse)
    assert (await frames_of(streamed))[-1].startswith("event: done\n")


async def test_a_streamed_answer_starts_the_reply_and_relays_it(monkeypatch):
    turn = a_turn()
    run = Run(replies.ReplyDelta("Hi"), replies.ReplyFinished(message=a_reply(turn, content="Hi")))
    calls = started_or_followed(monkeypatch, run)

    response = await streaming.reply_response(turn, stream=True)

    assert calls == [("start", turn)]
    assert response["Content-Type"] == "text/event-stream"
    assert not response.has_header("Idempotent-Replayed")
    assert (await frames_of(response))[1] == frame("delta", {"content": "Hi"})
