"""Answering with a reply run: collected as JSON, or relayed as Server-Sent Events.

Both answers read the same ``ReplyRun`` (one code path for the reply); the run lives in its
own background task, so a client that goes away mid-stream only stops the relay.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from django.http import StreamingHttpResponse
from rest_framework.response import Response

from conversations import payloads, replies
from conversations.api.errors import chat_error_response
from conversations.errors import SessionNotFound
from conversations.services import Turn

# A comment line now and then keeps proxies from closing a stream that waits for the model.
KEEPALIVE_SECONDS = 15.0


def sse_event(name: str, data: Mapping[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _reply_id(turn: Turn) -> str:
    # A send refused by moderation raised before its turn is answered: this one has a reply.
    assert turn.reply is not None
    return str(turn.reply.pk)


def _outcome(turn: Turn, finished: replies.ReplyFinished) -> tuple[str, Mapping[str, Any]]:
    """The final event of a run: ``done`` with the reply, or ``error`` with why."""
    reply_id = _reply_id(turn)
    if finished.error is not None:
        return "error", payloads.error_payload(finished.error, messageId=reply_id)
    if finished.message is None:
        return "error", payloads.error_payload(SessionNotFound(), messageId=reply_id)
    return "done", payloads.sse_done(finished.message)


async def _sse_stream(turn: Turn, run) -> AsyncIterator[str]:
    yield sse_event(
        "session",
        payloads.sse_session(session_id=turn.session.pk, user_message_id=turn.user_message.pk),
    )
    async for event in run.events(keepalive=KEEPALIVE_SECONDS):
        if event is None:
            yield ": keep-alive\n\n"
        elif isinstance(event, replies.ReplyDelta):
            yield sse_event("delta", payloads.sse_delta(event.content))
        else:
            yield sse_event(*_outcome(turn, event))


def _event_stream_response(turn: Turn, run) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_sse_stream(turn, run), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


async def reply_response(turn: Turn, *, stream: bool) -> Response | StreamingHttpResponse:
    """Start generating ``turn``'s reply (or follow it, for an Idempotency-Key retry) and
    answer with it, streamed or collected."""
    # Authentication ran on the database threads (ReplyView), so this request holds no
    # connection of its own: an open stream holds none.
    run = replies.follow_reply(turn) if turn.replayed else replies.start_reply(turn)
    response: Response | StreamingHttpResponse
    if stream:
        response = _event_stream_response(turn, run)
    else:
        finished = await run.result()
        name, data = _outcome(turn, finished)
        if name == "done":
            response = Response(data)
        else:
            response = chat_error_response(
                finished.error or SessionNotFound(),
                messageId=_reply_id(turn),
                sessionId=str(turn.session.pk),
            )
    if turn.replayed:
        response["Idempotent-Replayed"] = "true"
    return response
