"""The context at its edges: the exact prompt size, a message that exactly fits and one
token over, where a cut history starts (the oldest block boundary that fits, else the
oldest message that fits), which positions carry files, the room left for a first
message's files, the system prompt with each kind of instructions, and how often a message
starts a block."""

from __future__ import annotations

import random

import pytest

from conversations import context
from conversations.context import (
    MESSAGE_OVERHEAD_TOKENS as EACH,
)
from conversations.context import (
    REPLY_PRIMING_TOKENS as PRIMING,
)
from conversations.context import (
    ContextMessage,
    build_context,
)
from core.errors import InvalidInput

SYSTEM = "Be brief."


def fixed() -> int:
    """What every prompt costs before any history: the priming, the system prompt."""
    return PRIMING + context.count_tokens(SYSTEM) + EACH


def small(name: str, budget: int) -> ContextMessage:
    """A one-token message that does not start a block under ``budget``'s step."""
    for n in range(1000):
        message = ContextMessage("user", f"{name}{n}", 1)
        if not context._starts_block(message, 1 + EACH, budget // context.BLOCK_SHARE):
            return message
    raise AssertionError("no small message found")


def contents(built: context.Context) -> list[str]:
    return [m["content"] for m in built.messages[1:]]


def test_the_prompt_size_is_exact_and_the_model_is_passed_on():
    history = [ContextMessage("user", "third", 5), ContextMessage("assistant", "second", 7)]
    model = object()

    built = build_context(system_prompt=SYSTEM, history=history, budget=10_000, model=model)

    assert built.prompt_tokens == fixed() + (5 + EACH) + (7 + EACH)
    assert built.model is model
    assert built.files == ()
    assert build_context(system_prompt=SYSTEM, history=history, budget=10_000).model is None


def test_a_history_that_exactly_fits_is_sent_whole():
    history = [ContextMessage("user", f"m{n}", n) for n in (3, 4, 5)]
    exact = fixed() + sum(m.tokens + EACH for m in history)

    built = build_context(system_prompt=SYSTEM, history=history, budget=exact)

    assert contents(built) == ["m5", "m4", "m3"]
    assert built.prompt_tokens == exact


def test_one_token_less_cuts_the_oldest_message():
    history = [ContextMessage("user", f"m{n}", n) for n in (3, 4, 5)]
    exact = fixed() + sum(m.tokens + EACH for m in history)

    built = build_context(system_prompt=SYSTEM, history=history, budget=exact - 1)

    assert contents(built) == ["m4", "m3"]
    assert built.prompt_tokens == exact - (5 + EACH)


def test_the_message_being_answered_fits_exactly_or_is_refused():
    alone = [ContextMessage("user", "question", 20)]
    exact = fixed() + 20 + EACH

    assert build_context(system_prompt=SYSTEM, history=alone, budget=exact).prompt_tokens == exact
    with pytest.raises(InvalidInput) as refused:
        build_context(system_prompt=SYSTEM, history=alone, budget=exact - 1)
    assert refused.value.field == "message"
    assert refused.value.detail == (
        "This message is too long for the model's context. Please shorten it."
    )


BUDGET = 1000  # a step of 250 tokens: a message of 250 or more always starts a block


@pytest.mark.parametrize("boundaries", [[1], [2], [3], [4], [2, 5], [1, 2]])
def test_a_cut_history_starts_at_the_oldest_block_boundary_that_fits(boundaries):
    """Newest first: the question, small messages, long ones (each a boundary) at
    ``boundaries``, then small ones past the budget."""
    history = [small(f"s{i}-", BUDGET) for i in range(200)]
    for position in boundaries:
        history.insert(position, ContextMessage("assistant", f"long answer {position}", 300))

    built = build_context(system_prompt=SYSTEM, history=history, budget=BUDGET)

    kept = history[: boundaries[-1] + 1]
    assert contents(built) == [m.content for m in reversed(kept)]
    assert built.prompt_tokens == fixed() + sum(m.tokens + EACH for m in kept)


def test_without_a_boundary_a_cut_history_keeps_every_message_that_fits():
    history = [small(f"s{i}-", BUDGET) for i in range(400)]
    fitting = (BUDGET - fixed()) // (1 + EACH)

    built = build_context(system_prompt=SYSTEM, history=history, budget=BUDGET)

    assert len(built.messages) == 1 + fitting
    assert contents(built) == [m.content for m in reversed(history[:fitting])]
    assert built.prompt_tokens == fixed() + fitting * (1 + EACH)


def test_files_are_marked_at_their_position_in_the_messages():
    history = [
        ContextMessage("user", "newest", 1, files="mine"),
        ContextMessage("assistant", "reply", 1),
        ContextMessage("user", "oldest", 1, files=17),
    ]

    built = build_context(system_prompt=SYSTEM, history=history, budget=10_000)

    assert built.messages[1]["content"] == "oldest" and built.messages[3]["content"] == "newest"
    assert built.files == ((1, 17), (3, "mine"))


@pytest.mark.parametrize("tokens", [0, 1, 500])
def test_room_for_files_is_what_the_budget_leaves_after_the_message(tokens):
    room = context.room_for_files(system_prompt=SYSTEM, tokens=tokens, budget=2_000)
    assert room == 2_000 - fixed() - tokens
    # Exactly that much more fits, alone with the system prompt.
    message = ContextMessage("user", "with files", tokens + room - EACH)
    assert build_context(system_prompt=SYSTEM, history=[message], budget=2_000).prompt_tokens == (
        2_000
    )


@pytest.mark.parametrize(
    ("base", "user", "chat", "prompt"),
    [
        (" Base. ", "", "", "Base."),
        ("Base.", " be brief ", "", "Base.\n\nInstructions from the user:\nbe brief"),
        ("Base.", "", "\tuse French\n", "Base.\n\nInstructions for this conversation:\nuse French"),
        (
            "Base.",
            "be brief",
            "use French",
            "Base.\n\nInstructions from the user:\nbe brief\n\n"
            "Instructions for this conversation:\nuse French",
        ),
        ("  ", "be brief", "  ", "Instructions from the user:\nbe brief"),
        ("", "   ", "\n", ""),
    ],
)
def test_the_system_prompt_adds_each_kind_of_instructions_under_its_heading(
    settings, base, user, chat, prompt
):
    settings.CHATBOT_SYSTEM_PROMPT = base
    assert context.system_prompt_for(user_instructions=user, chat_instructions=chat) == prompt


def test_the_system_prompt_without_instructions_is_the_settings_one(settings):
    settings.CHATBOT_SYSTEM_PROMPT = "Base."
    assert context.system_prompt_for() == "Base."
    assert (
        context.system_prompt_for(user_instructions="u")
        == "Base.\n\nInstructions from the user:\nu"
    )
    assert context.system_prompt_for(chat_instructions="c") == (
        "Base.\n\nInstructions for this conversation:\nc"
    )


def test_a_message_starts_a_block_with_the_chance_of_its_share_of_the_step():
    rng = random.Random(23)
    messages = [ContextMessage("user", f"text {rng.random()}", 0) for _ in range(4000)]

    for cost, step in [(10, 100), (25, 100), (1, 8)]:
        share = sum(context._starts_block(m, cost, step) for m in messages) / len(messages)
        assert abs(share - cost / step) < 0.03, (cost, step, share)
    # A message at least a step long always starts one; its text alone decides otherwise.
    assert all(context._starts_block(m, 100, 100) for m in messages[:200])
    first = messages[0]
    assert context._starts_block(first, 10, 100) == context._starts_block(
        ContextMessage(first.role, first.content, 99, files="x"), 10, 100
    )


def test_the_role_and_the_text_both_decide_a_boundary():
    rng = random.Random(5)
    texts = [f"t{rng.random()}" for _ in range(400)]
    as_user = [context._starts_block(ContextMessage("user", t, 0), 1, 2) for t in texts]
    as_assistant = [context._starts_block(ContextMessage("assistant", t, 0), 1, 2) for t in texts]
    assert as_user != as_assistant


def test_text_with_a_lone_surrogate_is_hashed_not_refused():
    message = ContextMessage("user", "broken \ud800 text", 1)
    assert context._starts_block(message, 1, 1) is True
    assert context._starts_block(message, 0, 1) is False


def test_a_history_that_fits_is_never_cut_at_a_block_boundary():
    budget = 10_000
    history = [small("q", budget), ContextMessage("assistant", "long", 2_600)]
    history += [small(f"old{i}-", budget) for i in range(2)]

    built = build_context(system_prompt=SYSTEM, history=history, budget=budget)

    assert contents(built) == [m.content for m in reversed(history)]
    assert built.prompt_tokens == fixed() + sum(m.tokens + EACH for m in history)
