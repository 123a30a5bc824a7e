"""What the model is sent: exact token counts and the context that fits the budget."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from conversations import context
from core.errors import InvalidInput


def history(*pairs: tuple[str, str]) -> list[context.ContextMessage]:
    """Newest first, as the selector yields them."""
    return [context.ContextMessage(role, text, context.count_tokens(text)) for role, text in pairs]


def test_count_tokens_is_exact_in_the_openai_vocabulary():
    assert context.count_tokens("") == 0
    assert context.count_tokens("hello") == 1
    assert context.count_tokens("hello world") == 2
    # Special-token text from a user is counted as plain text, never an error.
    assert context.count_tokens("<|endoftext|>") > 1


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

    assert context.count_tokens(text) == len(get_encoding("o200k_base").encode_ordinary(text))


def test_the_vocabulary_is_seeded_into_an_empty_tiktoken_cache(tmp_path, monkeypatch, settings):
    import tiktoken.registry

    settings.TIKTOKEN_CACHE_DIR = str(tmp_path / "cache")
    # Where tiktoken reads it, put back afterwards (context._encoding sets it).
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", settings.TIKTOKEN_CACHE_DIR)
    monkeypatch.delitem(tiktoken.registry.ENCODINGS, "o200k_base", raising=False)
    context._encoding.cache_clear()
    try:
        # Threads seeding at once each write their own partial file, renamed into place.
        with ThreadPoolExecutor(4) as pool:
            counts = list(
                pool.map(lambda _: context._encoding().encode_ordinary("hi there"), range(4))
            )
        assert counts == [counts[0]] * 4 and len(counts[0]) == 2
        assert context.count_tokens("hello world") == 2
    finally:
        context._encoding.cache_clear()
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [
        "fb374d419588a4632f3f557e76b4b70aebbca790"  # sha1 of the vocabulary's URL
    ]


def test_context_puts_system_prompt_first_and_keeps_chronological_order():
    built = context.build_context(
        system_prompt="Be brief.",
        history=history(("user", "third"), ("assistant", "second"), ("user", "first")),
        budget=1000,
    )
    assert built.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "second"},
        {"role": "user", "content": "third"},
    ]


def test_context_keeps_newest_turns_within_budget():
    turns = history(
        *[("user" if i % 2 == 0 else "assistant", f"turn {i} " * 20) for i in range(50)]
    )
    built = context.build_context(system_prompt="System.", history=turns, budget=300)
    assert built.prompt_tokens <= 300
    assert built.messages[0]["role"] == "system"
    assert built.messages[-1]["content"] == turns[0].content
    kept = len(built.messages) - 1
    assert 1 < kept < 50
    # As many as fit: the next older message would not have.
    assert built.prompt_tokens + turns[kept].tokens + context.MESSAGE_OVERHEAD_TOKENS > 300
    # The kept messages are exactly the newest ones, contiguous.
    assert [m["content"] for m in built.messages[1:]] == [t.content for t in reversed(turns[:kept])]


def test_context_stops_reading_history_once_budget_is_spent():
    consumed = []

    def lazy():
        for i in range(10_000):
            consumed.append(i)
            yield context.ContextMessage("user", "word " * 50, 50)

    context.build_context(system_prompt="S", history=lazy(), budget=500)
    assert len(consumed) < 12


def test_context_refuses_a_message_that_cannot_fit_even_alone():
    with pytest.raises(InvalidInput) as error:
        context.build_context(
            system_prompt="S", history=history(("user", "long " * 500)), budget=100
        )
    assert error.value.field == "message"
