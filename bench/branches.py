"""Branches and the prompt cache (issues 14 and 15), inside the app's settings and database.

``python -m bench.branches seed`` stores a conversation of 10,000 messages with 100 branch
points whose current leaf is deep, and a short one; prints their ids and a token.
``python -m bench.branches measure SESSION SHORT`` counts the queries of both messages pages
and times the context at turn 10 and turn 1,000 of the current branch.
``python -m bench.branches cache`` drives the context of a 300-turn conversation turn by
turn, with block cuts and with a one-turn sliding window. Each prints one JSON line.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from unittest import mock

import django

SIZE = 10_000
BRANCHES = 100
SIDE_LENGTH = 10
LEAF_TURN = (SIZE - BRANCHES * SIDE_LENGTH) // 2  # the user message next to the current leaf
CACHE_TURNS = 300
WORDS = ("lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed")


def _text(rng: random.Random, label: str, words: int) -> str:
    # Varied text: block boundaries are chosen by content, so identical messages would not do.
    return label + " " + " ".join(rng.choice(WORDS) for _ in range(words))


def seed() -> dict:
    from accounts import services as account_services
    from accounts.models import User
    from bench.trees import branched_tree
    from conversations.context import count_tokens
    from conversations.models import ChatSession, Message

    owner = User.objects.create(username=f"branches{time.time_ns()}", email="br@example.com")
    session = ChatSession.objects.create(user=owner, title="branched")
    rng = random.Random(14)
    rows: list[Message] = []
    for i, node in enumerate(branched_tree(total=SIZE, branches=BRANCHES, side_length=SIDE_LENGTH)):
        content = _text(rng, f"message {i}", rng.randint(10, 60))
        rows.append(
            Message(
                session=session,
                parent=None if node.parent is None else rows[node.parent],
                sequence=i + 1,
                role="user" if node.depth % 2 == 0 else "assistant",
                content=content,
                token_count=count_tokens(content),
            )
        )
    Message.objects.bulk_create(rows, batch_size=1000)
    leaf_depth = SIZE - BRANCHES * SIDE_LENGTH - 1
    leaf = rows[leaf_depth]
    session.current_message = leaf
    session.save(update_fields=["current_message"])
    short = ChatSession.objects.create(user=owner, title="short")
    question = Message.objects.create(session=short, sequence=1, role="user", content="Hi?")
    answer = Message.objects.create(
        session=short, sequence=2, role="assistant", content="Hello.", parent=question
    )
    short.current_message = answer
    short.save(update_fields=["current_message"])
    return {
        "token": account_services.issue_token(user=owner).token,
        "session": str(session.pk),
        "shortSession": str(short.pk),
        "leafDepth": leaf_depth,
    }


def page_queries(session_id: str, token: str) -> int:
    """Queries of one messages page, counted on Django's connection in this process."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    path = f"/api/chat/sessions/{session_id}/messages?limit=50"
    headers = {"Authorization": f"Bearer {token}"}
    client.get(path, headers=headers)  # warm: caches of the first request are not a page's
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, headers=headers)
    assert response.status_code == 200, response.content[:500]
    return len(queries)


def _turn(session, user_message):
    """A turn answering ``user_message``, as the send path hands it to ``prepare_context``."""
    from conversations import services
    from conversations.models import Message

    reply = Message(session=session, parent=user_message, sequence=SIZE * 10, role="assistant")
    return services.Turn(session=session, user_message=user_message, reply=reply)


def measure(session_id: str, short_id: str, token: str) -> dict:
    from conversations import selectors, services
    from conversations.models import ChatSession

    result = {
        "queries_branched": page_queries(session_id, token),
        "queries_short": page_queries(short_id, token),
    }
    session = ChatSession.objects.select_related("user").get(pk=session_id)
    branch = list(selectors.branch_messages(session))
    # Turn 200's context is already full, like turn 1,000's; the last is the current leaf's.
    turns = {turn: _turn(session, branch[2 * turn - 2]) for turn in (10, 200, 1000, LEAF_TURN)}
    times: dict[int, list[float]] = {turn: [] for turn in turns}
    contexts = {}
    # Interleaved, so that a change in the machine's load falls on both turns alike.
    for _ in range(60):
        for turn, turn_obj in turns.items():
            start = time.perf_counter()
            contexts[turn] = services.prepare_context(turn_obj)
            times[turn].append(time.perf_counter() - start)
    for turn in turns:
        result[f"turn{turn}"] = {
            "p50_ms": statistics.median(times[turn]) * 1000,
            "prompt_tokens": contexts[turn].prompt_tokens,
            "messages": len(contexts[turn].messages),
        }
    result["ratio"] = result["turn1000"]["p50_ms"] / result["turn10"]["p50_ms"]
    result["ratio_full_budget"] = result["turn1000"]["p50_ms"] / result["turn200"]["p50_ms"]
    result["leaf_turn"] = LEAF_TURN
    result["budget"] = contexts[10].model.prompt_budget
    return result


def _prompts(session, user_messages) -> tuple[list[list], int]:
    from conversations import services

    prompts, worst = [], 0
    for user_message in user_messages:
        context = services.prepare_context(_turn(session, user_message))
        prompts.append([(m["role"], m["content"]) for m in context.messages])
        worst = max(worst, context.prompt_tokens)
    return prompts, worst


def cache() -> dict:
    """Issue 15: the share of turns whose prompt starts with the whole previous one, with
    the code's block cuts and, for comparison, every message a boundary (what a window
    sliding by one turn sends)."""
    from accounts.models import User
    from bench.trees import prefix_share
    from catalogue import selectors as catalogue
    from conversations import context
    from conversations.context import count_tokens
    from conversations.models import ChatSession, Message

    owner = User.objects.create(username=f"cache{time.time_ns()}", email="cache@example.com")
    session = ChatSession.objects.create(user=owner, title="cache")
    rng = random.Random(15)
    rows: list[Message] = []
    for i in range(2 * CACHE_TURNS):
        user = i % 2 == 0
        words = rng.randint(20, 60) if user else rng.randint(80, 300)
        content = _text(rng, f"turn {i // 2}", words)
        rows.append(
            Message(
                session=session,
                parent=rows[-1] if rows else None,
                sequence=i + 1,
                role="user" if user else "assistant",
                content=content,
                token_count=count_tokens(content),
            )
        )
    Message.objects.bulk_create(rows, batch_size=1000)
    session = ChatSession.objects.select_related("user").get(pk=session.pk)
    questions = rows[::2]
    blocks, worst_blocks = _prompts(session, questions)
    with mock.patch.object(context, "_starts_block", return_value=True):
        sliding, worst_sliding = _prompts(session, questions)
    budget = catalogue.session_model(user=owner, model_id=session.model).prompt_budget
    history = sum(m.token_count for m in rows)
    return {
        "turns": CACHE_TURNS,
        "budget": budget,
        "history_tokens": history,
        "prefix_share_blocks": prefix_share(blocks),
        "prefix_share_sliding": prefix_share(sliding),
        "max_prompt_tokens_blocks": worst_blocks,
        "max_prompt_tokens_sliding": worst_sliding,
        "min_messages_blocks": min(len(p) for p in blocks[CACHE_TURNS // 2 :]),
    }


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings")
    django.setup()
    command = sys.argv[1]
    if command == "seed":
        out = seed()
    elif command == "measure":
        out = measure(*sys.argv[2:5])
    else:
        out = cache()
    print(json.dumps(out))
