"""The one door to the model: context building, tokens, streaming and error mapping."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from conversations import llm
from conversations.errors import InvalidInput, LLMRateLimited, LLMRejected, LLMUnavailable
from tests.upstream import Behaviour


def history(*pairs: tuple[str, str]) -> list[llm.ContextMessage]:
    """Newest first, as the selector yields them."""
    return [llm.ContextMessage(role, text, llm.count_tokens(text)) for role, text in pairs]


def test_count_tokens_is_exact_in_the_openai_vocabulary():
    assert llm.count_tokens("") == 0
    assert llm.count_tokens("hello") == 1
    assert llm.count_tokens("hello world") == 2
    # Special-token text from a user is counted as plain text, never an error.
    assert llm.count_tokens("<|endoftext|>") > 1


SAMPLES = [
    "Plain English, with punctuation: commas, dots... and (parentheses)!",
    "def f(x):\n    return {'a': [1, 2, 3]}  # code\n\n\tindented",
    "Ünïcödé, 日本語のテキスト, русский текст, العربية, emoji 🎉👩‍💻",
    "numbers 1234567890 3.14159 -42 1e10",
    "   leading and trailing spaces   \r\n\r\nnew lines",
    "<|endoftext|><|fim_prefix|> special-looking text",
]


@pytest.mark.parametrize("text", SAMPLES)
def test_tiktoken_counts_like_the_bundled_bpe_openai_tokenizer(text):
    from bpe_openai import get_encoding  # the vocabulary's source, here as a reference

    assert llm.count_tokens(text) == len(get_encoding("o200k_base").encode_ordinary(text))


def test_the_vocabulary_is_seeded_into_an_empty_tiktoken_cache(tmp_path, monkeypatch):
    import tiktoken.registry

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delitem(tiktoken.registry.ENCODINGS, "o200k_base", raising=False)
    llm._encoding.cache_clear()
    try:
        # Threads seeding at once each write their own partial file, renamed into place.
        with ThreadPoolExecutor(4) as pool:
            counts = list(pool.map(lambda _: llm._encoding().encode_ordinary("hi there"), range(4)))
        assert counts == [counts[0]] * 4 and len(counts[0]) == 2
        assert llm.count_tokens("hello world") == 2
    finally:
        llm._encoding.cache_clear()
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [
        "fb374d419588a4632f3f557e76b4b70aebbca790"  # sha1 of the vocabulary's URL
    ]


def test_context_puts_system_prompt_first_and_keeps_chronological_order():
    context = llm.build_context(
        system_prompt="Be brief.",
        history=history(("user", "third"), ("assistant", "second"), ("user", "first")),
        budget=1000,
    )
    assert context.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "second"},
        {"role": "user", "content": "third"},
    ]


def test_context_keeps_newest_turns_within_budget():
    turns = history(
        *[("user" if i % 2 == 0 else "assistant", f"turn {i} " * 20) for i in range(50)]
    )
    context = llm.build_context(system_prompt="System.", history=turns, budget=300)
    assert context.prompt_tokens <= 300
    assert context.messages[0]["role"] == "system"
    assert context.messages[-1]["content"] == turns[0].content
    kept = len(context.messages) - 1
    assert 1 < kept < 50
    # As many as fit: the next older message would not have.
    assert context.prompt_tokens + turns[kept].tokens + llm.MESSAGE_OVERHEAD_TOKENS > 300
    # The kept messages are exactly the newest ones, contiguous.
    assert [m["content"] for m in context.messages[1:]] == [
        t.content for t in reversed(turns[:kept])
    ]


def test_context_stops_reading_history_once_budget_is_spent():
    consumed = []

    def lazy():
        for i in range(10_000):
            consumed.append(i)
            yield llm.ContextMessage("user", "word " * 50, 50)

    llm.build_context(system_prompt="S", history=lazy(), budget=500)
    assert len(consumed) < 12


def test_context_refuses_a_message_that_cannot_fit_even_alone():
    with pytest.raises(InvalidInput) as error:
        llm.build_context(system_prompt="S", history=history(("user", "long " * 500)), budget=100)
    assert error.value.field == "message"


def test_demo_mode_only_without_key_and_base_url(settings):
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""
    assert llm.is_demo()
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
