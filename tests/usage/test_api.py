"""GET /api/usage: the caller's replies per UTC day and model, and nobody else's."""

from __future__ import annotations

import httpx
import pytest

from accounts import services as account_services
from conversations.models import Message
from tests.factories import ChatSessionFactory, MessageFactory, UserFactory
from tests.usage.factories import at, reply
from usage.selectors import MAX_DAYS

pytestmark = pytest.mark.django_db


def usage(client, **query):
    return client.get("/api/usage", query)


@pytest.fixture
def replies(user):
    """The user's replies in two conversations around 1-2 March 2026, and another user's
    on the same days with the same models."""
    first, second = ChatSessionFactory(user=user), ChatSessionFactory(user=user)
    reply(first, "2026-02-28 23:59:59", prompt_tokens=1_000)  # the day before
    reply(first, "2026-03-01 00:00", prompt_tokens=10, completion_tokens=1, cached_tokens=4)
    reply(second, "2026-03-01 23:59:59", prompt_tokens=20, completion_tokens=2, cached_tokens=0)
    reply(second, "2026-03-01 12:00", model="model-b", prompt_tokens=30, completion_tokens=3)
    reply(
        first,
        "2026-03-01 13:00",
        model="model-b",
        status=Message.Status.FAILED,
        prompt_tokens=None,
        completion_tokens=None,
        cached_tokens=None,
    )
    reply(first, "2026-03-02 08:00", prompt_tokens=40, completion_tokens=4, cached_tokens=8)
    reply(first, "2026-03-03 00:00", prompt_tokens=1_000)  # the day after
    # The user's own messages are not replies.
    MessageFactory(session=first, role=Message.Role.USER, created_at=at("2026-03-01 10:00"))
    stranger = ChatSessionFactory(user=UserFactory())
    for when in ("2026-03-01 10:00", "2026-03-02 10:00"):
        for model in ("model-a", "model-b", "model-c"):
            reply(stranger, when, model=model, prompt_tokens=5_000, completion_tokens=500)


def test_usage_sums_the_callers_replies_per_utc_day_and_model(api, replies):
    response = usage(api, **{"from": "2026-03-01", "to": "2026-03-02"})

    assert response.status_code == 200
    assert response.json() == [
        {
            "date": "2026-03-01",
            "model": "model-a",
            "messages": 2,
            "promptTokens": 30,
            "completionTokens": 3,
            "cachedTokens": 4,
        },
        {
            "date": "2026-03-01",
            "model": "model-b",
            "messages": 2,
            "promptTokens": 30,
            "completionTokens": 3,
            "cachedTokens": 0,
        },
        {
            "date": "2026-03-02",
            "model": "model-a",
            "messages": 1,
            "promptTokens": 40,
            "completionTokens": 4,
            "cachedTokens": 8,
        },
    ]


def test_usage_never_shows_another_users_replies(api, other_api, replies):
    assert usage(other_api, **{"from": "2026-03-01", "to": "2026-03-02"}).json() == []
    mine = usage(api, **{"from": "2026-01-01", "to": "2026-12-31"}).json()
    assert {row["model"] for row in mine} == {"model-a", "model-b"}
    assert sum(row["promptTokens"] for row in mine) == 2_100


def test_usage_costs_the_same_queries_for_a_day_and_a_year(api, replies, django_assert_num_queries):
    usage(api, **{"from": "2026-03-01", "to": "2026-03-01"})  # the token's first use
    with django_assert_num_queries(2) as day:  # the token, the sums
        usage(api, **{"from": "2026-03-01", "to": "2026-03-01"})
    with django_assert_num_queries(len(day.captured_queries)):
        usage(api, **{"from": "2026-01-01", "to": "2026-12-31"})


@pytest.mark.parametrize(
    ("query", "field", "detail"),
    [
        ({"to": "2026-03-01"}, "from", "from: This field is required."),
        ({"from": "2026-03-01"}, "to", "to: This field is required."),
        ({"from": "2026-02-30", "to": "2026-03-01"}, "from", "from: Date has wrong format."),
        ({"from": "yesterday", "to": "2026-03-01"}, "from", "from: Date has wrong format."),
        ({"from": "2026-03-01", "to": "2026-03-01T00:00"}, "to", "to: Date has wrong format."),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "to", "to: The period ends before it starts."),
        (
            {"from": "2026-01-01", "to": "2027-01-02"},
            "to",
            f"to: The period is longer than {MAX_DAYS} days.",
        ),
    ],
    ids=["no from", "no to", "no such day", "words", "a time", "backwards", "too long"],
)
def test_bad_dates_answer_400_naming_the_parameter(api, query, field, detail):
    response = usage(api, **query)

    assert response.status_code == 400
    body = response.json()
    assert body["field"] == field
    assert body["detail"].startswith(detail)


def test_the_longest_period_and_the_last_day_are_accepted(api, replies):
    assert usage(api, **{"from": "2026-01-01", "to": "2026-12-31"}).status_code == 200
    assert MAX_DAYS == 366
    last = usage(api, **{"from": "9999-12-31", "to": "9999-12-31"})
    assert (last.status_code, last.json()) == (200, [])


def test_usage_needs_credentials(anonymous):
    response = usage(anonymous, **{"from": "2026-03-01", "to": "2026-03-02"})

    assert response.status_code == 401
    assert response.json()["detail"]


def test_usage_over_http_from_outside(live_app):
    """Through the app served by uvicorn, with a real token: the stored replies, summed."""
    user = UserFactory()
    session = ChatSessionFactory(user=user)
    reply(session, "2026-03-01 09:00", prompt_tokens=11, completion_tokens=5, cached_tokens=3)
    reply(session, "2026-03-01 10:00", prompt_tokens=13, completion_tokens=7, cached_tokens=1)
    reply(ChatSessionFactory(), "2026-03-01 10:00", prompt_tokens=999)
    token = account_services.issue_token(user=user).token

    response = httpx.get(
        f"{live_app}/api/usage",
        params={"from": "2026-03-01", "to": "2026-03-01"},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 200
    assert response.json() == [
        {
            "date": "2026-03-01",
            "model": "model-a",
            "messages": 2,
            "promptTokens": 24,
            "completionTokens": 12,
            "cachedTokens": 4,
        }
    ]
