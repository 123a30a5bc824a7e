"""``openai_api.responses`` driven by a scripted reply run (no server, no database, no
model): the exact ``chat.completion`` and each ``chat.completion.chunk`` frame of a stream
(role, deltas, keep-alives, the finish reason, the usage when asked, ``[DONE]``), a failure
before and after the first text, and the run's events closed whatever happens."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from django.http import StreamingHttpResponse

from conversations import replies
from conversations.errors import LLMUnavailable, SessionNotFound
from conversations.llm import GenerationOptions, StreamEnd
from conversations.models import Message
from conversations.services import Turn
from openai_api import responses
from openai_api.requests import ChatMessage, CompletionRequest

REPLY_ID = uuid.UUID("12345678-1234-5678-1234-567812345678")
CREATED = datetime(2026, 5, 4, 3, 2, 1, 900_000, tzinfo=UTC)
ID = "chatcmpl-12345678123456781234567812345678"
UNAVAILABLE = LLMUnavailable.default_detail


def turn() -> Turn:
    return Turn(
        session=None,
        user_message=None,
        reply=Message(id=REPLY_ID, created_at=CREATED),
    )


def request(*, stream=False, include_usage=False, model="asked") -> CompletionRequest:
    return CompletionRequest(
        model=model,
        messages=(ChatMessage("user", "hi"),),
        stream=stream,
        include_usage=include_usage,
        options=GenerationOptions(temperature=0.5),
    )


def answer(content="Hello there", *, model="answered", prompt=7, completion=3) -> Message:
    return Message(content=content, model=model, prompt_tokens=prompt, completion_tokens=completion)


class Events:
    def __init__(self, items) -> None:
        self.items = list(items)
        self.closed = False

    def __aiter__(self):
        return self

    async def __anext__(self):
        if not self.items:
            raise StopAsyncIteration
        return self.items.pop(0)

    async def aclose(self) -> None:
        self.closed = True


class Run:
    def __init__(self, *events, finished=None, end=None) -> None:
        self.stream = Events(events)
        self.finished = finished
        self.end = end
        self.keepalive = "not asked"

    async def result(self):
        return self.finished

    def events(self, keepalive=None):
        self.keepalive = keepalive
        return self.stream


async def frames(response) -> list:
    body = b"".join([part async for part in response.streaming_content]).decode()
    assert body.endswith("\n\n")
    return [
        frame if frame.startswith(":") else frame.removeprefix("data: ")
        for frame in body[:-2].split("\n\n")
    ]


def chunk(delta, finish_reason=None, model="asked") -> str:
    return json.dumps(
        {
            "id": ID,
            "object": "chat.completion.chunk",
            "created": 1777863721,
            "model": model,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        },
        ensure_ascii=False,
    )


# --- Pieces ---------------------------------------------------------------------------------


def test_usage_needs_both_counts():
    assert responses._usage(None) is None
    assert responses._usage(answer(prompt=None)) is None
    assert responses._usage(answer(completion=None)) is None
    assert responses._usage(answer(prompt=7, completion=3)) == {
        "prompt_tokens": 7,
        "completion_tokens": 3,
        "total_tokens": 10,
    }


@pytest.mark.parametrize(
    ("end", "reason"),
    [
        (None, "stop"),
        (StreamEnd(model="m", finish_reason="length"), "length"),
        (StreamEnd(model="m", finish_reason="stop"), "stop"),
        (StreamEnd(model="m", finish_reason="content_filter"), "stop"),
        (StreamEnd(model="m"), "stop"),
    ],
)
def test_the_finish_reason_is_length_only_when_the_model_said_so(end, reason):
    assert responses._finish_reason(Run(end=end)) == reason
    assert responses._finish_reason(object()) == "stop"


def test_a_failure_is_the_error_or_a_reply_deleted_meanwhile():
    error = LLMUnavailable()

    assert responses._failure(replies.ReplyFinished(answer(), error)) is error
    assert isinstance(responses._failure(replies.ReplyFinished(None)), SessionNotFound)
    assert responses._failure(replies.ReplyFinished(answer())) is None


def test_sse_frames_text_as_is_and_objects_as_json_unescaped():
    assert responses.sse("[DONE]") == "data: [DONE]\n\n"
    assert responses.sse({"a": "é"}) == 'data: {"a": "é"}\n\n'


def test_the_completion_names_the_model_that_answered():
    completion = responses.Completion(turn(), request())

    assert (completion.id, completion.created) == (ID, 1777863721)
    assert completion.answered_by(answer(model="fallback")) == "fallback"
    assert completion.answered_by(answer(model="")) == "asked"
    assert completion.answered_by(None) == "asked"
    assert completion.usage_chunk(None) == {
        "id": ID,
        "object": "chat.completion.chunk",
        "created": 1777863721,
        "model": "asked",
        "choices": [],
        "usage": None,
    }


# --- Answers --------------------------------------------------------------------------------


async def test_a_completion_is_openais_object():
    run = Run(finished=replies.ReplyFinished(answer()), end=StreamEnd("m", finish_reason="length"))

    response = await responses.completion_response(turn(), request(), run=run)

    assert response.status_code == 200
    assert response.data == {
        "id": ID,
        "object": "chat.completion",
        "created": 1777863721,
        "model": "answered",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello there", "refusal": None},
                "logprobs": None,
                "finish_reason": "length",
            }
        ],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
    }


async def test_a_failed_completion_is_its_error():
    run = Run(finished=replies.ReplyFinished(answer(), LLMUnavailable()))

    response = await responses.completion_response(turn(), request(), run=run)

    assert response.status_code == 503
    assert response.data == {
        "error": {
            "message": UNAVAILABLE,
            "type": "server_error",
            "param": None,
            "code": "model_unavailable",
        }
    }


async def test_without_a_run_the_reply_starts_with_the_requests_options(monkeypatch):
    started = []

    def start_reply(turn, *, options):
        started.append((turn.reply.pk, options))
        return Run(finished=replies.ReplyFinished(answer()))

    monkeypatch.setattr(replies, "start_reply", start_reply)

    response = await responses.completion_response(turn(), request())

    assert response.status_code == 200
    assert started == [(REPLY_ID, GenerationOptions(temperature=0.5))]


@pytest.mark.parametrize("include_usage", [False, True])
async def test_a_stream_sends_role_deltas_keepalives_finish_usage_and_done(include_usage):
    run = Run(
        replies.ReplyDelta("Hel"),
        None,
        replies.ReplyDelta("lo é"),
        replies.ReplyFinished(answer()),
        end=StreamEnd("m", finish_reason="length"),
    )

    response = await responses.completion_response(
        turn(), request(stream=True, include_usage=include_usage), run=run
    )

    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache"
    assert response["X-Accel-Buffering"] == "no"
    assert run.keepalive == 15.0
    usage = {
        "id": ID,
        "object": "chat.completion.chunk",
        "created": 1777863721,
        "model": "answered",
        "choices": [],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
    }
    assert await frames(response) == [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hel"}),
        ": keep-alive",
        chunk({"content": "lo é"}),
        chunk({}, "length", model="answered"),
        *([json.dumps(usage)] if include_usage else []),
        "[DONE]",
    ]
    assert run.stream.closed


async def test_a_stream_that_ends_at_once_still_sends_role_and_finish():
    run = Run(replies.ReplyFinished(answer(model="")))

    response = await responses.completion_response(turn(), request(stream=True), run=run)

    assert await frames(response) == [
        chunk({"role": "assistant", "content": ""}),
        chunk({}, "stop"),
        "[DONE]",
    ]


async def test_a_failure_before_any_text_is_an_error_status_not_a_stream():
    run = Run(replies.ReplyFinished(answer(), LLMUnavailable()), replies.ReplyDelta("never"))

    response = await responses.completion_response(turn(), request(stream=True), run=run)

    assert not isinstance(response, StreamingHttpResponse)
    assert response.status_code == 503
    assert response.data["error"]["code"] == "model_unavailable"
    assert run.stream.closed


async def test_a_failure_after_text_ends_the_stream_with_an_error_event():
    run = Run(replies.ReplyDelta("Hel"), replies.ReplyFinished(None), replies.ReplyDelta("x"))

    response = await responses.completion_response(
        turn(), request(stream=True, include_usage=True), run=run
    )

    error = {
        "error": {
            "message": "Conversation not found.",
            "type": "invalid_request_error",
            "param": "X-Chat-Session-Id",
            "code": "session_not_found",
        }
    }
    assert await frames(response) == [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hel"}),
        json.dumps(error),
    ]
    assert run.stream.closed
