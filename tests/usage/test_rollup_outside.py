"""The usage rollup under parallel clients of the app served by uvicorn, on SQLite and on
PostgreSQL: replies ending at the same moment for two users add up to exactly the stored
rows, and the histogram holds one time per reply."""

from __future__ import annotations

import asyncio

import httpx
from django.db.models import Count, Sum

from accounts import services as account_services
from conversations.models import Message
from loopback.upstream import Behaviour
from tests.factories import UserFactory
from usage.models import DailyUsage, FirstTokenTimes

SENDS = 20  # per user


def test_parallel_replies_of_two_users_add_up_to_the_stored_rows(live_app, upstream, settings):
    settings.CHATBOT_RATE_LIMIT = None
    users = [UserFactory(), UserFactory()]
    tokens = [account_services.issue_token(user=user).token for user in users]
    upstream.default = Behaviour(tokens=5, token_gap=0.01)

    async def race():
        async with httpx.AsyncClient(base_url=live_app, timeout=60) as http:
            return await asyncio.gather(
                *(
                    http.post(
                        "/api/chat",
                        json={"message": f"Question {n}"},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    for n in range(SENDS)
                    for token in tokens
                )
            )

    responses = asyncio.run(race())

    assert [r.status_code for r in responses] == [200] * (2 * SENDS)
    for user in users:
        replies = Message.objects.filter(session__user=user, role=Message.Role.ASSISTANT)
        stored = replies.aggregate(
            messages=Count("pk"),
            prompt=Sum("prompt_tokens"),
            completion=Sum("completion_tokens"),
        )
        rolled = DailyUsage.objects.filter(user=user).aggregate(
            messages=Sum("messages"),
            failed=Sum("failed"),
            prompt=Sum("prompt_tokens"),
            completion=Sum("completion_tokens"),
        )
        assert stored["messages"] == SENDS
        assert rolled == {**stored, "failed": 0}
    assert FirstTokenTimes.objects.aggregate(total=Sum("replies"))["total"] == 2 * SENDS
