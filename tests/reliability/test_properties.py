"""Property-based tests (hypothesis): validation and context building hold for any input."""

from __future__ import annotations

import unicodedata

import pytest
from django.conf import settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from conversations import services, titles
from conversations.context import (
    BLOCK_SHARE,
    MESSAGE_OVERHEAD_TOKENS,
    REPLY_PRIMING_TOKENS,
    ContextMessage,
    _starts_block,
    build_context,
    count_tokens,
)
from core.errors import InvalidInput

ALLOWED = {"\t", "\n", "\r"}


def is_clean(text: str) -> bool:
    return all(ch in ALLOWED or unicodedata.category(ch) not in ("Cc", "Cs") for ch in text)


@given(st.text(max_size=300))
def test_clean_message_keeps_valid_text_exactly_or_refuses_it_naming_the_field(text):
    valid = (
        bool(text.strip()) and len(text) <= settings.CHATBOT_MAX_MESSAGE_CHARS and is_clean(text)
    )
    if valid:
        assert services.clean_message(text) == text
    else:
        with pytest.raises(InvalidInput) as error:
            services.clean_message(text)
        assert error.value.field == "message" and error.value.detail


@given(st.text(max_size=300))
def test_clean_title_is_trimmed_and_bounded_or_refused(text):
    try:
        title = titles.clean_title(text)
    except InvalidInput as error:
        assert error.field == "title"
        assert not text.strip() or len(text.strip()) > 255 or not is_clean(text.strip())
    else:
        assert title == text.strip() and 1 <= len(title) <= 255


@given(
    st.one_of(
        st.none(),
        st.integers(),
        st.floats(),
        st.lists(st.text()),
        st.dictionaries(st.text(), st.text()),
    )
)
def test_non_text_messages_are_refused(value):
    with pytest.raises(InvalidInput):
        services.clean_message(value)


turn = st.tuples(st.sampled_from(["user", "assistant"]), st.text(min_size=1, max_size=200))


@hypothesis_settings(suppress_health_check=[HealthCheck.too_slow], max_examples=150, deadline=None)
@given(
    system=st.text(max_size=200),
    turns=st.lists(turn, min_size=1, max_size=60),
    budget=st.integers(min_value=1, max_value=4000),
)
def test_context_never_exceeds_the_budget_and_keeps_the_newest_turns_in_order(
    system, turns, budget
):
    history = [ContextMessage(role, text, count_tokens(text)) for role, text in turns]
    try:
        context = build_context(system_prompt=system, history=history, budget=budget)
    except InvalidInput:
        # Only when the newest message cannot fit beside the system prompt.
        alone = (
            REPLY_PRIMING_TOKENS
            + count_tokens(system)
            + 2 * MESSAGE_OVERHEAD_TOKENS
            + history[0].tokens
        )
        assert alone > budget
        return
    assert context.prompt_tokens <= budget
    assert context.messages[0] == {"role": "system", "content": system}
    sent = context.messages[1:]
    assert sent, "the message being answered is always sent"
    kept = len(sent)
    # Exactly the newest `kept` turns, oldest first.
    assert sent == [{"role": m.role, "content": m.content} for m in reversed(history[:kept])]
    # Either nothing older could have fitted in what was left, or the history was cut back
    # to a block boundary (for the upstream's prompt cache): then its oldest message starts
    # a block, or only the message answered is left.
    if kept < len(history):
        next_fits = context.prompt_tokens + history[kept].tokens + MESSAGE_OVERHEAD_TOKENS
        if next_fits <= budget:
            oldest = history[kept - 1]
            step = max(1, budget // BLOCK_SHARE)
            assert kept == 1 or _starts_block(oldest, oldest.tokens + MESSAGE_OVERHEAD_TOKENS, step)


@given(st.text(max_size=500))
def test_token_counts_are_exact_and_additive_enough(text):
    count = count_tokens(text)
    assert count >= 0
    assert (count == 0) == (text == "")
    assert count <= len(text.encode("utf-8", "surrogatepass"))
