"""History cut in blocks: over a long conversation, each prompt starts with the whole
previous one on most turns (the upstream's prompt cache is reused), never over budget."""

from __future__ import annotations

import random
from itertools import pairwise

from conversations import context

BUDGET = 8000


def conversation(turns: int) -> list[context.ContextMessage]:
    rng = random.Random(7)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
    messages = []
    for turn in range(turns):
        for role in ("user", "assistant"):
            text = f"{role} {turn}: " + " ".join(rng.choices(words, k=rng.randint(5, 120)))
            messages.append(context.ContextMessage(role, text, context.count_tokens(text)))
    return messages


def prompts(turns: int, budget: int = BUDGET) -> list[context.Context]:
    history = conversation(turns)
    built = []
    for turn in range(turns):
        asked = history[: 2 * turn + 1]  # up to this turn's user message
        built.append(
            context.build_context(
                system_prompt="Be brief.", history=list(reversed(asked)), budget=budget
            )
        )
    return built


def test_consecutive_prompts_share_their_prefix_on_nine_turns_in_ten():
    built = prompts(300)
    kept = sum(
        after.messages[: len(before.messages)] == before.messages
        for before, after in pairwise(built)
    )
    assert kept / (len(built) - 1) >= 0.9
    assert all(c.prompt_tokens <= BUDGET for c in built)
    # History was cut: the last prompt does not start with the first message.
    assert built[-1].messages[1]["content"].startswith("user ") and len(built[-1].messages) < 600


def test_a_sliding_window_would_share_almost_none():
    """The comparison the blocks are for: the newest turns that fit, every turn."""
    history = conversation(300)
    shared = 0
    previous = None
    for turn in range(300):
        asked = list(reversed(history[: 2 * turn + 1]))
        used, kept = 0, []
        for message in asked:
            if used + message.tokens + 4 > BUDGET - 20:
                break
            used += message.tokens + 4
            kept.append(message)
        current = [m.content for m in reversed(kept)]
        if previous is not None and current[: len(previous)] == previous:
            shared += 1
        previous = current
    assert shared / 299 < 0.5


def test_the_cut_leaves_most_of_the_budget_in_use():
    built = prompts(300)
    assert sum(c.prompt_tokens for c in built[100:]) / len(built[100:]) > 0.6 * BUDGET
