"""The model door, asserted exactly (issue 23): what each call sends the model, what the
caller gets back, the sentence and log line of each failure, the clients it keeps, and the
demo backend. Against real servers on loopback: the OpenAI-compatible upstream, and a
scripted one for answers the upstream never gives (no choices, null content, odd chunks)."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from collections import deque

import pytest
from openai._base_client import BaseClient

from catalogue.entries import ModelEntry, ProviderEntry
from conversations import llm
from conversations.context import count_tokens
from conversations.errors import (
    LLMRateLimited,
    LLMRejected,
    LLMUnavailable,
    ModerationUnavailable,
)
from loopback.upstream import Behaviour, FakeUpstream, free_port

ASK = [{"role": "user", "content": "count to two"}]
BUSY = "The assistant is busy right now. Please try again in a moment."
DOWN = "The assistant is unavailable right now. Please try again in a moment."
SLOW = "The assistant took too long to answer. Please try again."
REFUSED = "The assistant could not answer this request."
CUT = "The reply was interrupted. Please try again."


class ScriptedUpstream(FakeUpstream):
    """A real HTTP server answering each request with the next scripted status, content
    type and body, as it is (the loopback upstream only answers well-formed)."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: deque[tuple[int, str, bytes]] = deque()

    def answer(self, body, *, status: int = 200, content_type: str = "application/json"):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.answers.append((status, content_type, raw))

    def stream(self, *chunks) -> None:
        """An SSE answer: each chunk as one ``data:`` event, then ``[DONE]``."""
        events = [b"data: " + json.dumps(chunk).encode() + b"\n\n" for chunk in chunks]
        self.answer(b"".join(events) + b"data: [DONE]\n\n", content_type="text/event-stream")

    async def app(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.requests.append({"path": scope["path"], "body": json.loads(body) if body else {}})
        status, content_type, raw = self.answers.popleft()
        headers = [(b"content-type", content_type.encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": raw})


@pytest.fixture(scope="module")
def scripted_server():
    server = ScriptedUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def scripted(scripted_server, settings):
    """The scripted server as the app's model, no retries."""
    scripted_server.answers.clear()
    scripted_server.requests.clear()
    settings.OPENAI_BASE_URL = scripted_server.base_url
    settings.OPENAI_API_KEY = "sk-scripted"
    settings.CHATBOT_MODEL = "scripted-model"
    settings.CHATBOT_LLM_MAX_RETRIES = 0
    yield scripted_server
    assert not scripted_server.answers, "an answer was scripted but never asked for"


@pytest.fixture
def window(settings):
    """A small window: replies of at most 300 tokens, a known temperature."""
    settings.CHATBOT_CONTEXT_TOKENS = 1000
    settings.CHATBOT_MAX_REPLY_TOKENS = 300
    settings.CHATBOT_TEMPERATURE = 0.25


@pytest.fixture
def failures(caplog):
    """The log lines of the model door."""
    caplog.set_level(logging.WARNING, logger="conversations.llm")

    def lines() -> list[tuple[str, str]]:
        return [
            (record.levelname, record.getMessage())
            for record in caplog.records
            if record.name == "conversations.llm"
        ]

    return lines


def entry(
    model_id: str, *, upstream: str, base_url: str, fallback=None, key: str = "k"
) -> ModelEntry:
    provider = ProviderEntry(name=model_id, base_url=base_url, api_key_env="K", api_key=key)
    return ModelEntry(
        id=model_id,
        label=model_id,
        provider=provider,
        upstream=upstream,
        context_tokens=1000,
        reply_tokens=300,
        fallback=fallback,
    )


async def events_of(messages=ASK, **kwargs) -> list:
    return [event async for event in llm.stream(messages, **kwargs)]


def text_of(events) -> str:
    return "".join(event.content for event in events if isinstance(event, llm.TextDelta))


# --- What the model receives --------------------------------------------------------------


async def test_a_stream_sends_exactly_the_model_messages_and_reply_cap(upstream, window):
    events = await events_of()
    assert upstream.chat_requests() == [
        {
            "model": "test-model",
            "messages": ASK,
            "temperature": 0.25,
            "max_tokens": 300,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    ]
    assert upstream.requests[0]["path"] == "/v1/chat/completions"
    assert upstream.requests[0]["headers"]["authorization"] == "Bearer sk-test-secret-key"
    assert events == [
        llm.TextDelta("You "),
        llm.TextDelta("said: "),
        llm.TextDelta("count "),
        llm.TextDelta("to "),
        llm.TextDelta("two"),
        llm.StreamEnd(
            model="test-model", prompt_tokens=3, completion_tokens=5, finish_reason="stop"
        ),
    ]


async def test_a_clients_options_override_the_apps_within_the_reply_reserve(upstream, window):
    options = llm.GenerationOptions(temperature=0.0, top_p=0.5, max_tokens=1000, stop=("x", "y"))
    await events_of(options=options)
    await events_of(options=llm.GenerationOptions(max_tokens=50))
    await events_of(options=llm.GenerationOptions())
    first, second, third = upstream.chat_requests()
    common = {"model": "test-model", "messages": ASK, "stream": True}
    common["stream_options"] = {"include_usage": True}
    assert first == {
        **common,
        "temperature": 0.0,
        "top_p": 0.5,
        "max_tokens": 300,
        "stop": ["x", "y"],
    }
    assert second == {**common, "temperature": 0.25, "max_tokens": 50}
    assert third == {**common, "temperature": 0.25, "max_tokens": 300}


def test_generation_options_set_only_what_was_chosen():
    assert llm.GenerationOptions().body(reply_tokens=10) == {}
    assert llm.GenerationOptions(temperature=0.0, top_p=0.0).body(reply_tokens=10) == {
        "temperature": 0.0,
        "top_p": 0.0,
    }
    assert llm.GenerationOptions(max_tokens=10).body(reply_tokens=10) == {"max_tokens": 10}
    assert llm.GenerationOptions(max_tokens=11).body(reply_tokens=10) == {"max_tokens": 10}
    assert llm.GenerationOptions(max_tokens=9, stop=("END",)).body(reply_tokens=10) == {
        "max_tokens": 9,
        "stop": ["END"],
    }


async def test_a_catalogue_model_is_asked_by_its_upstream_name_and_answers_by_its_id(upstream):
    model = entry("alias", upstream="served-name", base_url=upstream.base_url, key="sk-alias")
    events = await events_of(model=model)
    assert upstream.chat_requests()[0]["model"] == "served-name"
    assert upstream.chat_requests()[0]["max_tokens"] == 300
    assert upstream.requests[0]["headers"]["authorization"] == "Bearer sk-alias"
    assert events[-1].model == "alias"


async def test_a_title_is_asked_with_the_prompt_a_capped_message_and_24_tokens(upstream, settings):
    settings.CHATBOT_TEMPERATURE = 0.5
    upstream.push(Behaviour(content="A Short Title"))
    long_message = "word " * 500
    assert await llm.generate_title(long_message) == "A Short Title"
    assert upstream.chat_requests() == [
        {
            "model": "test-model",
            "messages": [
                {"role": "system", "content": llm.TITLE_PROMPT},
                {"role": "user", "content": long_message[:2000]},
            ],
            "temperature": 0.5,
            "max_tokens": 24,
        }
    ]


async def test_a_title_comes_from_the_conversations_model(upstream):
    model = entry("alias", upstream="served-name", base_url=upstream.base_url, key="sk-alias")
    upstream.push(Behaviour(content="Its Title"))
    assert await llm.generate_title("hello", model=model) == "Its Title"
    assert upstream.chat_requests()[0]["model"] == "served-name"
    assert upstream.requests[0]["headers"]["authorization"] == "Bearer sk-alias"


async def test_a_completion_without_a_cap_sends_none_and_reads_usage(upstream, settings):
    settings.CHATBOT_TEMPERATURE = 0.5
    completion = await llm.acomplete(ASK)
    assert completion == llm.Completion(
        content="You said: count to two",
        model="test-model",
        prompt_tokens=3,
        completion_tokens=5,
    )
    assert upstream.chat_requests() == [
        {"model": "test-model", "messages": ASK, "temperature": 0.5}
    ]


def test_the_sync_completion_sends_the_same_and_reads_the_same(upstream, settings):
    settings.CHATBOT_TEMPERATURE = 0.5
    model = entry("alias", upstream="served-name", base_url=upstream.base_url, key="sk-alias")
    completion = llm.complete(ASK, model=model, max_tokens=7)
    assert upstream.requests[0]["headers"]["authorization"] == "Bearer sk-alias"
    assert completion == llm.Completion(
        content="You said: count to two", model="alias", prompt_tokens=3, completion_tokens=5
    )
    assert upstream.chat_requests() == [
        {"model": "served-name", "messages": ASK, "temperature": 0.5, "max_tokens": 7}
    ]


async def test_a_completion_without_usage_has_no_token_counts(upstream):
    upstream.push(Behaviour(content="fine", usage=False), Behaviour(content="fine", usage=False))
    expected = llm.Completion(content="fine", model="test-model")
    assert await llm.acomplete(ASK) == expected
    assert await asyncio.to_thread(llm.complete, ASK) == expected


async def test_model_calls_carry_the_apps_own_request_keys(upstream, monkeypatch):
    made = []
    original = BaseClient._idempotency_key
    monkeypatch.setattr(
        BaseClient, "_idempotency_key", lambda self: made.append(1) or original(self)
    )
    await events_of()
    await llm.acomplete(ASK)
    assert made == []
    key = llm._request_key()
    assert key.startswith(f"chatbot-{llm._PROCESS_KEY}-")
    number = int(key.rsplit("-", 1)[1])
    assert llm._request_key() == f"chatbot-{llm._PROCESS_KEY}-{number + 1}"


# --- What the caller gets -----------------------------------------------------------------


async def test_the_stream_end_carries_cached_tokens(upstream):
    upstream.push(Behaviour(content="a b", cached_tokens=2))
    events = await events_of()
    assert events[-1] == llm.StreamEnd(
        model="test-model",
        prompt_tokens=3,
        completion_tokens=2,
        cached_tokens=2,
        finish_reason="stop",
    )


async def test_a_stream_without_usage_ends_without_counts(upstream):
    upstream.push(Behaviour(content="a b", usage=False))
    events = await events_of()
    assert events[-1] == llm.StreamEnd(model="test-model", finish_reason="stop")


async def test_odd_but_valid_chunks_are_read_as_far_as_they_go(scripted):
    scripted.stream(
        {"choices": [{"delta": None, "finish_reason": None}]},
        {"choices": [{"delta": {"content": "Hi"}, "finish_reason": None}], "usage": 5},
        {"choices": None, "usage": {"prompt_tokens": 4, "prompt_tokens_details": None}},
        {"choices": [{"finish_reason": "length"}], "usage": {"completion_tokens": 1}},
    )
    events = await events_of()
    assert events == [
        llm.TextDelta("Hi"),
        llm.StreamEnd(model="scripted-model", completion_tokens=1, finish_reason="length"),
    ]


async def test_a_chunk_that_is_not_an_object_is_a_failure(scripted, failures):
    scripted.stream({"choices": [{"delta": {"content": "Hi"}}]}, [1, 2])
    with pytest.raises(LLMUnavailable) as raised:
        await events_of()
    assert raised.value.detail == DOWN
    assert failures() == [("WARNING", "model call failed: ValueError (status None)")]


async def test_a_stream_that_ends_without_finishing_is_interrupted(upstream, failures):
    upstream.push(Behaviour(no_finish=True))
    with pytest.raises(LLMUnavailable) as raised:
        await events_of()
    assert raised.value.detail == CUT
    assert failures() == [("WARNING", "model stream ended without a finish reason")]


@pytest.mark.parametrize(
    ("behaviour", "error", "detail", "logged"),
    [
        (
            Behaviour(status=429, retry_after="0"),
            LLMRateLimited,
            BUSY,
            [("WARNING", "model call failed: RateLimitError (status 429)")],
        ),
        (
            Behaviour(status=400),
            LLMRejected,
            REFUSED,
            [
                ("WARNING", "model call failed: BadRequestError (status 400)"),
                ("ERROR", "the model upstream refused a request (status 400): check settings"),
            ],
        ),
        (
            Behaviour(status=499),
            LLMRejected,
            REFUSED,
            [
                ("WARNING", "model call failed: APIStatusError (status 499)"),
                ("ERROR", "the model upstream refused a request (status 499): check settings"),
            ],
        ),
        (
            Behaviour(status=500),
            LLMUnavailable,
            DOWN,
            [("WARNING", "model call failed: InternalServerError (status 500)")],
        ),
        (
            Behaviour(drop_after=2),
            LLMUnavailable,
            DOWN,
            [("WARNING", "model call failed: APIConnectionError (status None)")],
        ),
    ],
)
async def test_each_failure_has_its_sentence_and_log_line(
    upstream, settings, failures, behaviour, error, detail, logged
):
    settings.CHATBOT_LLM_MAX_RETRIES = 0
    upstream.push(behaviour)
    with pytest.raises(error) as raised:
        await events_of()
    assert type(raised.value) is error and raised.value.detail == detail
    assert failures() == logged


async def test_a_stream_that_times_out_says_so(upstream, settings, failures):
    settings.CHATBOT_LLM_MAX_RETRIES = 0
    settings.CHATBOT_LLM_TIMEOUT = 0.3
    upstream.push(Behaviour(hang=True))
    with pytest.raises(LLMUnavailable) as raised:
        await events_of()
    assert raised.value.detail == SLOW
    assert failures() == [("WARNING", "model call failed: APITimeoutError (status None)")]


def test_a_sync_completion_maps_failures_too(upstream, settings):
    settings.CHATBOT_LLM_MAX_RETRIES = 0
    upstream.push(Behaviour(status=429))
    with pytest.raises(LLMRateLimited):
        llm.complete(ASK)


async def test_a_completion_without_choices_or_content(scripted):
    scripted.answer({"id": "c", "object": "chat.completion", "created": 0, "choices": []})
    with pytest.raises(LLMUnavailable) as raised:
        await llm.acomplete(ASK)
    assert raised.value.detail == DOWN
    message = {"role": "assistant", "content": None}
    scripted.answer(
        {
            "id": "c",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        }
    )
    assert await llm.acomplete(ASK) == llm.Completion(content="", model="scripted-model")


async def test_an_answer_that_is_not_a_completion_is_unavailable(scripted, failures):
    # Broken JSON, a web page at the base URL, JSON of another shape: never a crash.
    scripted.answer(b"{not json")
    scripted.answer(b"<html>hello</html>", content_type="text/html")
    scripted.answer({"choices": "none"})
    for _ in range(3):
        with pytest.raises(LLMUnavailable) as raised:
            await llm.acomplete(ASK)
        assert raised.value.detail == DOWN
    assert [line for _, line in failures()] == [
        "model call failed: JSONDecodeError (status None)",
        "model call failed: AttributeError (status None)",
        "model call failed: AttributeError (status None)",
    ]
    scripted.answer(b"<html>hello</html>", content_type="text/html")
    with pytest.raises(LLMUnavailable):
        await asyncio.to_thread(llm.complete, ASK)
    scripted.answer(b"<html>hello</html>", content_type="text/html")
    with pytest.raises(ModerationUnavailable):
        await llm.moderate("hello")


# --- A model's fallback -------------------------------------------------------------------


def refused_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"


async def test_the_fallback_answers_with_the_same_request_when_the_provider_is_down(
    upstream, settings, failures
):
    settings.CHATBOT_LLM_MAX_RETRIES = 0
    backup = entry("backup", upstream="backup-model", base_url=upstream.base_url)
    primary = entry("primary", upstream="primary-model", base_url=refused_url(), fallback=backup)
    options = llm.GenerationOptions(max_tokens=5)
    events = await events_of(model=primary, options=options)
    assert text_of(events) == "You said: count to two"
    assert events[-1].model == "backup"
    assert upstream.chat_requests() == [
        {
            "model": "backup-model",
            "messages": ASK,
            "temperature": settings.CHATBOT_TEMPERATURE,
            "max_tokens": 5,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    ]
    assert failures()[-1] == (
        "WARNING",
        "model primary unavailable: its fallback backup answers",
    )


async def test_no_fallback_once_text_came_or_when_refused(upstream, settings):
    settings.CHATBOT_LLM_MAX_RETRIES = 0
    backup = entry("backup", upstream="backup-model", base_url=upstream.base_url)
    primary = entry(
        "primary", upstream="primary-model", base_url=upstream.base_url, fallback=backup
    )
    upstream.push(Behaviour(content="one two three four", drop_after=2))
    with pytest.raises(LLMUnavailable):
        await events_of(model=primary)
    upstream.push(Behaviour(status=400))
    with pytest.raises(LLMRejected):
        await events_of(model=primary)
    assert [body["model"] for body in upstream.chat_requests()] == ["primary-model"] * 2


async def test_without_a_fallback_a_down_provider_is_an_error(settings):
    settings.CHATBOT_LLM_MAX_RETRIES = 0
    with pytest.raises(LLMUnavailable) as raised:
        await events_of(model=entry("alone", upstream="m", base_url=refused_url()))
    # The SDK's aiohttp transport reports a refused connection as a connect timeout.
    assert type(raised.value) is LLMUnavailable and raised.value.detail == SLOW


# --- Clients ------------------------------------------------------------------------------


def test_one_sync_client_per_provider_settings_and_key(upstream, settings):
    settings.CHATBOT_LLM_TIMEOUT = 7.5
    settings.CHATBOT_LLM_MAX_RETRIES = 3
    client = llm.sync_client()
    assert llm.sync_client() is client
    assert str(client.base_url) == upstream.base_url + "/"
    assert client.api_key == "sk-test-secret-key"
    assert client.timeout == 7.5 and client.max_retries == 3
    settings.OPENAI_API_KEY = "sk-rotated"
    rotated = llm.sync_client()
    assert rotated is not client and rotated.api_key == "sk-rotated"
    settings.CHATBOT_LLM_TIMEOUT = 8.0
    assert llm.sync_client() is not rotated and llm.sync_client().timeout == 8.0


def test_a_provider_without_key_or_url_uses_a_placeholder_and_the_sdks_url(scripted, monkeypatch):
    # Without a base URL the SDK takes OPENAI_BASE_URL from the environment, else OpenAI's.
    monkeypatch.setenv("OPENAI_BASE_URL", scripted.base_url)
    provider = ProviderEntry(name="local", base_url="", api_key_env="")
    client = llm.sync_client(provider)
    assert client.api_key == "not-needed"
    assert str(client.base_url) == scripted.base_url + "/"


async def test_the_async_client_pool_and_its_closing(upstream, settings):
    settings.CHATBOT_LLM_TIMEOUT = 6.5
    settings.CHATBOT_LLM_MAX_RETRIES = 3
    client = llm.async_client()
    assert llm.async_client() is client
    assert client.api_key == "sk-test-secret-key" and client.max_retries == 3
    assert str(client.base_url) == upstream.base_url + "/"
    assert client.timeout == 6.5 and client._client.timeout.read == 6.5
    limits = client._client._transport.limits
    assert (limits.max_connections, limits.max_keepalive_connections) == (1000, 100)
    assert limits.keepalive_expiry == llm.UPSTREAM_KEEPALIVE_SECONDS == 4.0
    settings.OPENAI_API_KEY = "sk-rotated"
    rotated = llm.async_client()
    assert rotated is not client and rotated.api_key == "sk-rotated"
    await llm.close_clients()
    assert client.is_closed() and rotated.is_closed()
    assert asyncio.get_running_loop() not in llm._async_clients
    assert llm.async_client() is not rotated


# --- Moderation ---------------------------------------------------------------------------


async def test_moderation_sends_the_text_to_the_moderation_model(upstream, settings):
    settings.CHATBOT_MODERATION_MODEL = "mod-model"
    assert await llm.moderate("hello") == llm.ModerationResult(flagged=False, categories=[])
    assert await llm.moderate("you FLAGME") == llm.ModerationResult(
        flagged=True, categories=["harassment"]
    )
    bodies = [r["body"] for r in upstream.requests]
    assert bodies == [
        {"model": "mod-model", "input": "hello"},
        {"model": "mod-model", "input": "you FLAGME"},
    ]
    assert upstream.requests[0]["path"] == "/v1/moderations"


async def test_moderation_sends_images_as_parts_and_any_flagged_part_counts(upstream):
    upstream.moderation.categories = ["sexual", "harassment"]
    images = ("data:image/png;base64,AAAA", "data:image/png;base64,FLAGME")
    result = await llm.moderate("a caption", images=images)
    assert result == llm.ModerationResult(flagged=True, categories=["harassment", "sexual"])
    assert upstream.requests[0]["body"]["input"] == [
        {"type": "text", "text": "a caption"},
        {"type": "image_url", "image_url": {"url": images[0]}},
        {"type": "image_url", "image_url": {"url": images[1]}},
    ]


async def test_moderation_keeps_the_categories_of_every_flagged_part(upstream):
    upstream.moderation.categories = ["violence"]
    result = await llm.moderate("FLAGME in the caption", images=("data:image/png;base64,AA",))
    assert result == llm.ModerationResult(flagged=True, categories=["violence"])


async def test_moderation_in_demo_mode_asks_nothing(upstream, settings):
    settings.OPENAI_API_KEY = settings.OPENAI_BASE_URL = ""
    assert await llm.moderate("FLAGME") == llm.ModerationResult(flagged=False)
    assert upstream.requests == []


async def test_moderation_down_or_empty_is_unavailable(
    upstream, scripted_server, settings, failures
):
    settings.CHATBOT_LLM_MAX_RETRIES = 0
    upstream.moderation.status = 500
    with pytest.raises(ModerationUnavailable) as raised:
        await llm.moderate("hello")
    assert raised.value.code == "moderation_unavailable"
    assert failures() == [("WARNING", "model call failed: InternalServerError (status 500)")]
    settings.OPENAI_BASE_URL = scripted_server.base_url
    scripted_server.answer({"id": "m", "model": "m", "results": []})
    with pytest.raises(ModerationUnavailable):
        await llm.moderate("hello")
    result = {"flagged": False, "categories": None, "category_scores": None}
    scripted_server.answer({"id": "m", "model": "m", "results": [result]})
    assert await llm.moderate("hello") == llm.ModerationResult(flagged=False, categories=[])


# --- Listing a provider's models (admin) ---------------------------------------------------


def provider_at(base_url: str, key_env: str = "ALPHA_KEY") -> ProviderEntry:
    return ProviderEntry(name="p", base_url=base_url, api_key_env=key_env, api_key="sk-p")


def test_listing_models_sorts_them(scripted):
    scripted.answer({"object": "list", "data": [{"id": "zeta"}, {"id": "alpha"}]})
    assert llm.list_models(provider_at(scripted.base_url)) == ["alpha", "zeta"]
    assert scripted.requests[0]["path"] == "/v1/models"


@pytest.mark.parametrize(
    ("status", "error", "detail"),
    [
        (401, LLMRejected, "{url} refused the key (status 401): check the variable ALPHA_KEY."),
        (403, LLMRejected, "{url} refused the key (status 403): check the variable ALPHA_KEY."),
        (
            404,
            LLMRejected,
            "{url} has no /models (status 404): check the base URL (often ending in /v1).",
        ),
        (500, LLMUnavailable, "{url} answered with status 500."),
        (400, LLMUnavailable, "{url} answered with status 400."),
    ],
)
def test_listing_models_says_what_failed_once(upstream, settings, status, error, detail):
    settings.CHATBOT_LLM_MAX_RETRIES = 2
    upstream.models_status = status
    with pytest.raises(error) as raised:
        llm.list_models(provider_at(upstream.base_url))
    assert type(raised.value) is error
    assert raised.value.detail == detail.format(url=upstream.base_url)
    assert len(upstream.requests) == 1  # no retries: an administrator is waiting


def test_listing_models_names_a_missing_key_variable(upstream):
    upstream.models_status = 401
    with pytest.raises(LLMRejected) as raised:
        llm.list_models(provider_at(upstream.base_url, key_env=""))
    assert raised.value.detail == (
        f"{upstream.base_url} refused the key (status 401): check the variable (none set)."
    )


def test_listing_models_from_openai_itself_names_openai(scripted, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", scripted.base_url)
    scripted.answer({"error": {"message": "no"}}, status=500)
    with pytest.raises(LLMUnavailable) as raised:
        llm.list_models(provider_at(""))
    assert raised.value.detail == "OpenAI answered with status 500."


def test_listing_models_from_a_server_that_does_not_answer(settings):
    settings.CHATBOT_LLM_TIMEOUT = 0.3
    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
        with pytest.raises(LLMUnavailable) as raised:
            llm.list_models(provider_at(url))
    assert raised.value.detail == f"{url} did not answer within CHATBOT_LLM_TIMEOUT (0.3 s)."


def test_listing_models_from_nothing_listening():
    url = refused_url()
    with pytest.raises(LLMUnavailable) as raised:
        llm.list_models(provider_at(url))
    assert raised.value.detail == f"cannot connect to {url} (refused, or no such host)."


def test_listing_models_from_a_server_that_is_not_openai_compatible(scripted):
    scripted.answer(b"<html>hello</html>", content_type="text/html")
    with pytest.raises(LLMUnavailable) as raised:
        llm.list_models(provider_at(scripted.base_url))
    assert raised.value.detail == (
        f"{scripted.base_url} did not answer like an OpenAI-compatible server."
    )


# --- Configuration and the demo backend ---------------------------------------------------


def test_a_catalogue_in_the_settings_is_no_demo(settings):
    settings.OPENAI_API_KEY = settings.OPENAI_BASE_URL = ""
    settings.CHATBOT_MODELS = ()
    assert llm.is_demo() is False


def test_the_default_model_is_the_settings_one_or_the_demo(settings):
    settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL = "sk-x", ""
    settings.CHATBOT_MODEL = "gpt-x"
    assert llm.default_model() == "gpt-x"
    settings.OPENAI_API_KEY = ""
    assert llm.default_model() == "demo"


@pytest.fixture
def demo(settings):
    settings.OPENAI_API_KEY = settings.OPENAI_BASE_URL = ""


def demo_text(turn: int, said: str) -> str:
    return f"{llm.DEMO_NOTICE}\n\nYou said (message {turn} of this chat): {said}"


async def test_the_demo_streams_word_by_word_at_its_pace(demo, settings, monkeypatch):
    settings.CHATBOT_DEMO_DELAY = 0.001
    pauses = []
    sleep = asyncio.sleep

    async def paced(delay):
        if threading.current_thread() is threading.main_thread():  # not the upstream's
            pauses.append(delay)
        await sleep(delay)

    monkeypatch.setattr(llm.asyncio, "sleep", paced)
    messages = [
        {"role": "system", "content": "be nice"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "second one"},
    ]
    events = await events_of(messages)
    expected = demo_text(2, "second one")
    words = expected.split(" ")
    assert events[:-1] == [llm.TextDelta(word + " ") for word in words[:-1]] + [
        llm.TextDelta(words[-1])
    ]
    assert events[-1] == llm.StreamEnd(model="demo", completion_tokens=count_tokens(expected))
    assert pauses == [0.001] * len(words)


def test_the_demo_quotes_the_last_user_text_up_to_200_characters(demo):
    exact = "x" * 200
    assert llm.complete([{"role": "user", "content": exact}]).content == demo_text(1, exact)
    longer = "y" * 199 + "zw"
    assert llm.complete([{"role": "user", "content": longer}]).content == demo_text(
        1, "y" * 199 + "z…"
    )
    parts = [
        {"type": "text", "text": "look "},
        {"type": "image_url", "image_url": {"url": "data:,"}},
        {"type": "text", "text": "here"},
        {"type": "text"},
    ]
    messages = [
        {"role": "user", "content": parts},
        {"role": "assistant", "content": "an answer"},
    ]
    completion = llm.complete(messages)
    assert completion == llm.Completion(
        content=demo_text(1, "look here"),
        model="demo",
        completion_tokens=count_tokens(demo_text(1, "look here")),
    )
    assert llm.complete([]).content == demo_text(0, "")


async def test_the_demo_titles_with_the_first_six_words(demo):
    title = await llm.generate_title("one two three four five six seven eight")
    assert title == "one two three four five six"
    completion = await llm.acomplete(
        [
            {"role": "system", "content": llm.TITLE_PROMPT},
            {"role": "user", "content": "an earlier message"},
            {"role": "user", "content": "short one"},
        ]
    )
    assert completion == llm.Completion(content="short one", model="demo")
