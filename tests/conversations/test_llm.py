"""The one door to the model: demo mode, streaming, completion and error mapping."""

from __future__ import annotations

import pytest

from conversations import llm
from conversations.errors import LLMRateLimited, LLMRejected, LLMUnavailable
from loopback.upstream import Behaviour


@pytest.mark.django_db
def test_demo_mode_only_without_key_base_url_or_catalogue(settings):
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""
    assert llm.is_demo()
    from catalogue.models import Model, Provider

    model = Model.objects.create(id="m", provider=Provider.objects.create(name="p"))
    assert not llm.is_demo()
    model.delete()
    settings.OPENAI_BASE_URL = "http://127.0.0.1:1/v1"
    assert not llm.is_demo()
    settings.OPENAI_BASE_URL = ""
    settings.OPENAI_API_KEY = "sk-x"
    assert not llm.is_demo()


async def test_demo_stream_says_it_is_a_demo_and_how_to_configure(settings):
    settings.OPENAI_API_KEY = settings.OPENAI_BASE_URL = ""
    pieces = [e async for e in llm.stream([{"role": "user", "content": "hi there"}])]
    text = "".join(e.content for e in pieces if isinstance(e, llm.TextDelta))
    assert "Demo mode" in text and "OPENAI_API_KEY" in text and "hi there" in text
    assert isinstance(pieces[-1], llm.StreamEnd) and pieces[-1].model == "demo"


async def test_stream_relays_pieces_and_usage_from_a_real_server(upstream):
    upstream.push(Behaviour(content="one two three"))
    events = [e async for e in llm.stream([{"role": "user", "content": "count"}])]
    assert [e.content for e in events if isinstance(e, llm.TextDelta)] == ["one ", "two ", "three"]
    end = events[-1]
    assert isinstance(end, llm.StreamEnd)
    assert end.completion_tokens == 3 and end.prompt_tokens == 1
    sent = upstream.chat_requests()[-1]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["model"] == "test-model"
    assert upstream.requests[-1]["headers"]["authorization"] == "Bearer sk-test-secret-key"


async def test_sdk_retries_a_server_error_then_succeeds(upstream, settings):
    settings.CHATBOT_LLM_MAX_RETRIES = 2
    upstream.push(Behaviour(status=503), Behaviour(content="fine"))
    completion = await llm.acomplete([{"role": "user", "content": "x"}])
    assert completion.content == "fine"
    assert len(upstream.chat_requests()) == 2


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        (Behaviour(status=500), LLMUnavailable),
        (Behaviour(status=503), LLMUnavailable),
        (Behaviour(status=429, retry_after="0"), LLMRateLimited),
        (Behaviour(status=401), LLMRejected),
        (Behaviour(status=400), LLMRejected),
        (Behaviour(drop_after=2), LLMUnavailable),
        (Behaviour(malformed_after=1), LLMUnavailable),
        (Behaviour(no_finish=True), LLMUnavailable),
    ],
)
async def test_upstream_failures_become_domain_errors_without_upstream_text(
    upstream, settings, behaviour, error
):
    settings.CHATBOT_LLM_MAX_RETRIES = 0
    upstream.push(behaviour)
    with pytest.raises(error) as raised:
        async for _event in llm.stream([{"role": "user", "content": "hello world again"}]):
            pass
    assert "secret" not in raised.value.detail
    assert upstream.base_url not in raised.value.detail


async def test_timeout_becomes_a_friendly_error(upstream, settings):
    settings.CHATBOT_LLM_MAX_RETRIES = 0
    settings.CHATBOT_LLM_TIMEOUT = 0.3
    upstream.push(Behaviour(hang=True))
    with pytest.raises(LLMUnavailable, match="too long"):
        await llm.acomplete([{"role": "user", "content": "x"}])


async def test_refused_connection_becomes_unavailable(settings):
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    settings.OPENAI_API_KEY = "sk-x"
    settings.CHATBOT_LLM_MAX_RETRIES = 0
    with pytest.raises(LLMUnavailable):
        await llm.acomplete([{"role": "user", "content": "x"}])


def test_sync_complete_uses_the_sync_client(upstream):
    upstream.push(Behaviour(content="sync reply"))
    completion = llm.complete([{"role": "user", "content": "x"}])
    assert completion.content == "sync reply" and completion.model == "test-model"
    assert upstream.chat_requests()[-1].get("stream") in (None, False)


async def test_pooled_upstream_connections_expire_before_uvicorns_keep_alive(upstream):
    # A connection reused just as the upstream closes it fails the request; uvicorn (vLLM,
    # the test upstream) closes idle connections after its timeout_keep_alive.
    import uvicorn

    transport = llm.async_client()._client._transport
    assert transport.limits.keepalive_expiry < uvicorn.Config(app=None).timeout_keep_alive
    assert transport.limits.max_connections >= 500  # scenario 4's streams, none queued
