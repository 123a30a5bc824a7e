"""Monthly budgets where users meet them: a send past the budget is refused with 429, a
human message and when the budget renews, over the REST API, the WebSocket and the
OpenAI-compatible /v1; parallel sends do not overrun it; and a send reads no budget from
the database while no budget exists."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import httpx
import openai
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db.models import F, Sum
from django.utils import timezone

from accounts import services as account_services
from conversations.models import Message
from loopback.upstream import Behaviour
from tests.api.conftest import bearer_client
from tests.factories import MessageFactory, UserFactory, conversation
from tests.web.conftest import open_socket, receive_until
from usage.models import GroupBudget, UserBudget

BUDGET = 300
REPLY_CAP = 40
REPLY_TOKENS = 30
SENDS = 20


def next_month() -> date:
    return (timezone.now().date().replace(day=1) + timedelta(days=32)).replace(day=1)


def renewal() -> str:
    return f"It renews on {next_month().isoformat()} at 00:00 UTC."


def spent_month(user, *, tokens: int = BUDGET) -> None:
    """``user`` in a group with a monthly budget of ``BUDGET``, of which a stored reply
    this month already spent ``tokens``."""
    group = Group.objects.create(name="team")
    GroupBudget.objects.create(group=group, monthly_tokens=BUDGET)
    user.groups.add(group)
    MessageFactory(
        session=conversation(user, turns=0),
        role=Message.Role.ASSISTANT,
        prompt_tokens=tokens - 10,
        completion_tokens=10,
    )


@pytest.fixture
def budgets(settings):
    settings.CHATBOT_RATE_LIMIT = None
    settings.CHATBOT_DAILY_TOKEN_QUOTA = 0
    settings.CHATBOT_MAX_REPLY_TOKENS = REPLY_CAP
    return settings


def assert_seconds_to_next_month(retry_after: int) -> None:
    now = datetime.now(UTC)
    expected = (datetime.combine(next_month(), datetime.min.time(), UTC) - now).total_seconds()
    assert expected - 60 <= retry_after <= expected + 60


@pytest.mark.django_db(transaction=True)
def test_the_api_refuses_a_send_past_the_monthly_budget(user, upstream, budgets):
    spent_month(user)
    api = bearer_client(user)

    refused = api.post("/api/chat", {"message": "one more"}, content_type="application/json")

    assert refused.status_code == 429
    assert refused.json()["code"] == "budget_exceeded"
    assert refused.json()["detail"] == f"You have used this month's token budget. {renewal()}"
    assert_seconds_to_next_month(int(refused["Retry-After"]))
    assert not Message.objects.filter(session__user=user, role="user").exists()
    assert upstream.reply_requests() == []
    # Someone outside the group is not limited.
    free = bearer_client(UserFactory())
    sent = free.post("/api/chat", {"message": "hi"}, content_type="application/json")
    assert sent.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_the_budget_counts_this_months_replies_and_lets_a_fitting_send_through(
    user, upstream, budgets
):
    spent_month(user, tokens=100)  # 200 left: a short prompt fits
    api = bearer_client(user)

    sent = api.post("/api/chat", {"message": "hello"}, content_type="application/json")

    assert sent.status_code == 200, sent.content


@pytest.mark.django_db(transaction=True)
def test_a_users_own_monthly_budget_refuses_like_a_groups(user, upstream, budgets):
    UserBudget.objects.create(user=user, monthly_tokens=BUDGET)
    MessageFactory(
        session=conversation(user, turns=0),
        role=Message.Role.ASSISTANT,
        prompt_tokens=BUDGET,
        completion_tokens=0,
    )

    refused = bearer_client(user).post(
        "/api/chat", {"message": "one more"}, content_type="application/json"
    )

    assert refused.status_code == 429
    assert refused.json()["code"] == "budget_exceeded"
    assert upstream.reply_requests() == []


@pytest.mark.django_db(transaction=True)
async def test_the_websocket_refuses_a_send_past_the_monthly_budget(upstream, budgets):
    user = await sync_to_async(UserFactory)()
    await sync_to_async(spent_month)(user)
    socket = await open_socket(user)
    try:
        await socket.send_json_to({"type": "send", "text": "one more", "requestId": "r1"})
        error = (await receive_until(socket, "error"))[-1]
    finally:
        await socket.disconnect()

    assert error["code"] == "budget_exceeded"
    assert error["detail"] == f"You have used this month's token budget. {renewal()}"
    assert error["requestId"] == "r1"
    assert_seconds_to_next_month(error["retryAfter"])
    assert not await Message.objects.filter(session__user=user, role="user").aexists()


def test_v1_refuses_a_completion_past_the_monthly_budget(live_app, upstream, budgets):
    user = UserFactory()
    spent_month(user)
    token = account_services.issue_token(user=user).token
    client = openai.OpenAI(base_url=f"{live_app}/v1", api_key=token, max_retries=0)

    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(
            model="test-model", messages=[{"role": "user", "content": "one more"}]
        )

    assert refused.value.status_code == 429
    assert refused.value.code == "rate_limit_exceeded"
    assert refused.value.body["type"] == "tokens"
    assert refused.value.body["message"] == f"You have used this month's token budget. {renewal()}"
    assert_seconds_to_next_month(int(refused.value.response.headers["Retry-After"]))
    assert upstream.reply_requests() == []


def test_parallel_sends_do_not_overrun_the_monthly_budget(live_app, upstream, budgets):
    upstream.default = Behaviour(tokens=REPLY_TOKENS, first_token_delay=0.1)
    user = UserFactory()
    spent_month(user, tokens=10)
    token = account_services.issue_token(user=user).token

    async def send_all() -> list[httpx.Response]:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(headers=headers, timeout=60) as client:
            return await asyncio.gather(
                *(
                    client.post(f"{live_app}/api/chat", json={"message": f"budget {i}"})
                    for i in range(SENDS)
                )
            )

    responses = asyncio.run(send_all())

    codes = [response.status_code for response in responses]
    assert set(codes) == {200, 429}, [r.text for r in responses]
    for refused in (r for r in responses if r.status_code == 429):
        assert refused.json()["code"] == "budget_exceeded"
    replies = Message.objects.filter(session__user=user, role="assistant")
    assert not replies.filter(status="streaming").exists()
    spent = replies.aggregate(spent=Sum(F("prompt_tokens") + F("completion_tokens")))["spent"]
    assert 10 < spent <= BUDGET + REPLY_CAP, spent
    # Every reservation was settled to what its reply really spent.
    month = f"{datetime.now(UTC):%Y-%m}"
    assert cache.get(f"token-month:{user.pk}:{month}") == spent
