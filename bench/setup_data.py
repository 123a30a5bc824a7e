"""Benchmark data, made inside the app's own settings and database.

``python -m bench.setup_data USERS BIG`` creates USERS users, each with an API token and a
logged-in session cookie, and (BIG=1) a user with 10,000 conversations and a conversation
with 10,000 messages. Prints one JSON line. ``python -m bench.setup_data context`` measures
context building at turn 10 and turn 1,000 of a long conversation.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from datetime import timedelta

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts import services as account_services  # noqa: E402
from accounts.models import User  # noqa: E402
from conversations import services  # noqa: E402
from conversations.context import count_tokens  # noqa: E402
from conversations.models import ChatSession, Message  # noqa: E402

SIZE = 10_000


def make_users(count: int) -> list[dict]:
    users = User.objects.bulk_create(
        [User(username=f"bench{i}", email=f"bench{i}@example.com") for i in range(count)]
    )
    made = []
    for user in User.objects.filter(pk__in=[u.pk for u in users]).order_by("pk"):
        token = account_services.issue_token(user=user).token
        # A client per user: logging a second user into one client flushes the first session.
        client = Client()
        client.force_login(user)
        made.append({"token": token, "cookie": client.cookies["sessionid"].value})
    return made


def make_big() -> dict:
    owner = User.objects.create(username="bench-big", email="big@example.com")
    now = timezone.now()
    sessions = ChatSession.objects.bulk_create(
        [
            ChatSession(user=owner, title=f"Chat {i}", updated_at=now - timedelta(seconds=i))
            for i in range(SIZE)
        ],
        batch_size=2000,
    )
    long_session = sessions[0]
    services.store_as_branch(
        session=long_session,
        messages=[
            Message(
                session=long_session,
                sequence=i + 1,
                role="user" if i % 2 == 0 else "assistant",
                content=f"message {i} " * 5,
                token_count=15,
            )
            for i in range(SIZE)
        ],
        batch_size=2000,
    )
    empty = User.objects.create(username="bench-empty", email="empty@example.com")
    empty_session = ChatSession.objects.create(user=empty, title="empty")
    return {
        "bigToken": account_services.issue_token(user=owner).token,
        "longSession": str(long_session.pk),
        "emptyToken": account_services.issue_token(user=empty).token,
        "emptySession": str(empty_session.pk),
    }


def _turn(session: ChatSession, question: Message) -> services.Turn:
    """The turn answering ``question``, as the send path hands it to ``prepare_context``."""
    reply = Message(session=session, parent=question, sequence=question.sequence + 1)
    return services.Turn(session=session, user_message=question, reply=reply)


def measure_context() -> dict:
    """Context build time at turn 10 vs turn 1,000, and the prompt tokens sent."""
    user = User.objects.create(username=f"ctx{time.time_ns()}", email="ctx@example.com")
    session = ChatSession.objects.create(user=user, title="long")
    rows = []
    for i in range(2000):
        content = f"turn {i // 2} " + "lorem ipsum dolor sit amet " * 20
        rows.append(
            Message(
                session=session,
                sequence=i + 1,
                role="user" if i % 2 == 0 else "assistant",
                content=content,
                token_count=count_tokens(content),
            )
        )
    # One branch, as a conversation grows: each turn's context is the path to its question.
    services.store_as_branch(session=session, messages=rows, batch_size=1000)
    result = {"budget": settings.CHATBOT_CONTEXT_TOKENS}
    for turn in (10, 200, 1000):
        turn_obj = _turn(session, rows[2 * turn - 2])
        times, context = [], None
        for _ in range(30):
            start = time.perf_counter()
            context = services.prepare_context(turn_obj)
            times.append(time.perf_counter() - start)
        result[f"turn{turn}"] = {
            "p50_ms": statistics.median(times) * 1000,
            "prompt_tokens": context.prompt_tokens,
            "messages": len(context.messages),
        }
    result["ratio"] = result["turn1000"]["p50_ms"] / result["turn10"]["p50_ms"]
    # Turn 200 already fills the budget: this ratio shows cost does not grow with history.
    result["ratio_full_budget"] = result["turn1000"]["p50_ms"] / result["turn200"]["p50_ms"]
    worst = 0
    for turn in range(1, 1001):
        worst = max(
            worst, services.prepare_context(_turn(session, rows[2 * turn - 2])).prompt_tokens
        )
    result["max_prompt_tokens_over_1000_turns"] = worst
    return result


if __name__ == "__main__":
    if sys.argv[1] == "context":
        print(json.dumps(measure_context()))
    else:
        data = {"users": make_users(int(sys.argv[1]))}
        if sys.argv[2] == "1":
            data.update(make_big())
        print(json.dumps(data))
