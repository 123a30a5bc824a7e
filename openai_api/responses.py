"""OpenAI's answer objects built from a reply run: a ``chat.completion``, or the
``chat.completion.chunk`` events of a stream (role, content deltas, the finish reason, the
usage when asked for, then ``[DONE]``). Both read the same run, as ``/api/chat`` does."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from django.http import StreamingHttpResponse
from rest_framework.response import Response

from conversations import replies
from conversations.errors import SessionNotFound
from conversations.models import Message
from conversations.services import Turn
from core.errors import ChatError
from openai_api.errors import error_body, error_response, from_chat_error
from openai_api.requests import CompletionRequest

# A comment line now and then keeps proxies from closing a stream that waits for the model.
KEEPALIVE_SECONDS = 15.0


def completion_id(turn: Turn) -> str:
    return f"chatcmpl-{turn.reply.pk.hex}"


def _usage(message: Message | None) -> dict | None:
    if message is None or message.prompt_tokens is None or message.completion_tokens is None:
        return None
    return {
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "total_tokens": message.prompt_tokens + message.completion_tokens,
    }


def _finish_reason(run) -> str:
    end = getattr(run, "end", None)
    reason = end.finish_reason if end is not None else None
    return "length" if reason == "length" else "stop"


def _failure(finished: replies.ReplyFinished) -> ChatError | None:
    if finished.error is not None:
        return finished.error
    if finished.message is None:
        return SessionNotFound()  # deleted while it was answering
    return None


class Completion:
    """The objects of one completion: its id, creation time and model throughout."""

    def __init__(self, turn: Turn, request: CompletionRequest) -> None:
        self.turn = turn
        self.request = request
        self.id = completion_id(turn)
        self.created = int(turn.reply.created_at.timestamp())

    def answered_by(self, message: Message | None) -> str:
        """The model that answered: a fallback's id when it stood in for the one asked."""
        return (message.model if message is not None else "") or self.request.model

    def completion(self, run, message: Message) -> dict:
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.answered_by(message),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": message.content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": _finish_reason(run),
                }
            ],
            "usage": _usage(message),
        }

    def chunk(self, delta: dict, finish_reason: str | None = None, *, model: str = "") -> dict:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": model or self.request.model,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }

    def usage_chunk(self, message: Message | None) -> dict:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.answered_by(message),
            "choices": [],
            "usage": _usage(message),
        }


def sse(data: dict | str) -> str:
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n"


async def completion_response(turn: Turn, request: CompletionRequest, *, run=None):
    """Answer with ``turn``'s reply: a ``chat.completion``, or a stream of chunks."""
    run = run or replies.start_reply(turn, options=request.options)
    answer = Completion(turn, request)
    if not request.stream:
        finished = await run.result()
        failure = _failure(finished)
        if failure is not None:
            return error_response(from_chat_error(failure))
        return Response(answer.completion(run, finished.message))
    events = run.events(keepalive=KEEPALIVE_SECONDS)
    # The first news decides the status: a model that fails before any text answers with
    # its error status (503), as a client expects, rather than a stream that ends in one.
    first = await anext(events)
    if isinstance(first, replies.ReplyFinished) and _failure(first) is not None:
        await events.aclose()
        return error_response(from_chat_error(_failure(first)))
    response = StreamingHttpResponse(
        _chunks(answer, run, first, events), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


async def _chunks(answer: Completion, run, first, events) -> AsyncIterator[str]:
    try:
        yield sse(answer.chunk({"role": "assistant", "content": ""}))
        event = first
        while not isinstance(event, replies.ReplyFinished):
            if event is None:
                yield ": keep-alive\n\n"
            else:
                yield sse(answer.chunk({"content": event.content}))
            event = await anext(events)
        failure = _failure(event)
        if failure is not None:
            # OpenAI's SDKs raise an APIError for an event that carries an error.
            yield sse(error_body(from_chat_error(failure)))
            return
        # The last chunks name the model that answered, known once it has.
        yield sse(answer.chunk({}, _finish_reason(run), model=answer.answered_by(event.message)))
        if answer.request.include_usage:
            yield sse(answer.usage_chunk(event.message))
        yield sse("[DONE]")
    finally:
        # A client that went away stops only this relay; the reply runs on and is stored.
        await events.aclose()
