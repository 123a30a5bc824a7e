"""``usage.selectors`` asked directly over rollup rows written as the test states them, the
cases mutation testing found unchecked: a period's first and last days in and the days either
side out, one user's rows only and never another's, exact percentiles from hand-worked
buckets, top users and groups with ties and a limit, costs and unpriced tokens, feedback per
model, the dashboard's sums and totals, and Settings' today and month at a month's edge."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from catalogue.entries import Price
from catalogue.models import Model, Provider
from conversations.models import Message
from sharing.models import MessageFeedback
from tests.factories import ChatSessionFactory, MessageFactory, UserFactory
from tests.usage.factories import at
from usage import rollup, selectors
from usage.models import DailyUsage, FirstTokenTimes
from usage.templatetags.usage_tags import cost

pytestmark = pytest.mark.django_db

FIRST, LAST = date(2026, 3, 1), date(2026, 3, 2)
PERIOD = selectors.Period(start=FIRST, end=LAST)
BEFORE, AFTER = date(2026, 2, 28), date(2026, 3, 3)
# Per million tokens: m 1 (input), 0.5 (cached input), 2 (output); n has no price.
PRICES = {"m": Price(input=Decimal(1), cached_input=Decimal("0.5"), output=Decimal(2))}
MILLION = Decimal(10**6)


def used(day: date, user, model: str, *sums: int) -> None:
    """A rollup row: messages, failed, prompt, completion, cached tokens."""
    DailyUsage.objects.create(
        day=day, user=user, model=model, **dict(zip(rollup.USAGE_SUMS, sums, strict=True))
    )


@pytest.fixture
def people(db):
    """alice (team, admins, zeta), bob (team), carol (no group), dave (idle: only outside
    the period)."""
    alice, bob, carol, dave = (UserFactory(username=n) for n in ("alice", "bob", "carol", "dave"))
    team, admins, zeta, idle = (
        Group.objects.create(name=n) for n in ("team", "admins", "zeta", "idle")
    )
    alice.groups.add(team, admins, zeta)
    bob.groups.add(team)
    dave.groups.add(idle)
    used(BEFORE, alice, "m", 9, 0, 9_000, 900, 0)
    used(FIRST, alice, "m", 2, 1, 100, 20, 40)
    used(FIRST, bob, "m", 1, 0, 300, 30, 0)
    used(FIRST, alice, "n", 1, 0, 50, 5, 0)
    used(LAST, carol, "m", 3, 0, 155, 20, 100)
    used(LAST, bob, "n", 1, 1, 0, 0, 0)
    used(AFTER, bob, "m", 7, 0, 7_000, 700, 0)
    used(AFTER, dave, "m", 5, 0, 5_000, 500, 0)
    return alice, bob, carol, dave


def row(day, model, messages, failed, prompt, completion, cached) -> dict:
    return {
        "date": day,
        "model": model,
        "messages": messages,
        "failed": failed,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cached_tokens": cached,
    }


def test_a_period_holds_its_first_and_last_days_and_no_other():
    period = selectors.Period(start=date(2026, 2, 27), end=date(2026, 3, 2))
    assert period.days == [date(2026, 2, 27), date(2026, 2, 28), FIRST, LAST]
    assert selectors.Period(start=FIRST, end=FIRST).days == [FIRST]


def test_usage_in_reads_the_periods_rows_all_or_one_users(people):
    _alice, bob, _carol, dave = people

    everyone = selectors.usage_in(PERIOD)
    assert sorted(everyone.values_list("day", "user__username", "model")) == [
        (FIRST, "alice", "m"),
        (FIRST, "alice", "n"),
        (FIRST, "bob", "m"),
        (LAST, "bob", "n"),
        (LAST, "carol", "m"),
    ]
    assert sorted(selectors.usage_in(PERIOD, user=bob).values_list("day", "model")) == [
        (FIRST, "m"),
        (LAST, "n"),
    ]
    assert not selectors.usage_in(PERIOD, user=dave).exists()


def test_daily_usage_sums_everyones_rows_per_day_and_model_in_order(people):
    assert selectors.daily_usage(period=PERIOD) == [
        row(FIRST, "m", 3, 1, 400, 50, 40),
        row(FIRST, "n", 1, 0, 50, 5, 0),
        row(LAST, "m", 3, 0, 155, 20, 100),
        row(LAST, "n", 1, 1, 0, 0, 0),
    ]


def test_daily_usage_of_one_user_is_theirs_alone(people):
    alice, bob, _carol, dave = people

    assert selectors.daily_usage(period=PERIOD, user=alice) == [
        row(FIRST, "m", 2, 1, 100, 20, 40),
        row(FIRST, "n", 1, 0, 50, 5, 0),
    ]
    assert selectors.daily_usage(period=PERIOD, user=bob) == [
        row(FIRST, "m", 1, 0, 300, 30, 0),
        row(LAST, "n", 1, 1, 0, 0, 0),
    ]
    assert selectors.daily_usage(period=PERIOD, user=dave) == []
    one_day = selectors.Period(start=BEFORE, end=BEFORE)
    assert selectors.daily_usage(period=one_day, user=alice) == [
        row(BEFORE, "m", 9, 0, 9_000, 900, 0)
    ]


def spread(bucket: int, rank: float, replies: int) -> float:
    """The time of the ``rank``-th (from 0) of ``replies`` spread evenly across ``bucket``."""
    low, high = (0.0 if bucket == 0 else 1.05**bucket), 1.05 ** (bucket + 1)
    return low + (high - low) * (rank + 0.5) / replies


@pytest.mark.parametrize(
    ("counts", "fraction", "expected"),
    [
        ([(0, 1)], 0.5, 0.525),
        ([(0, 1)], 0.95, 0.525),
        ([(7, 1)], 0.5, spread(7, 0, 1)),
        # Two replies: p50 halfway between them, p95 at 95 % of the way.
        ([(10, 1), (20, 1)], 0.5, (spread(10, 0, 1) + spread(20, 0, 1)) / 2),
        ([(10, 1), (20, 1)], 0.95, spread(10, 0, 1) + 0.95 * (spread(20, 0, 1) - spread(10, 0, 1))),
        # Four: ranks 1 and 2 (position 1.5), in different buckets of two each.
        ([(10, 2), (20, 2)], 0.5, (spread(10, 1, 2) + spread(20, 0, 2)) / 2),
        # Four over three buckets: p95 at position 2.85, between ranks 2 and 3.
        (
            [(3, 1), (5, 2), (8, 1)],
            0.95,
            spread(5, 1, 2) + 0.85 * (spread(8, 0, 1) - spread(5, 1, 2)),
        ),
        ([(3, 1), (5, 2), (8, 1)], 0.5, (spread(5, 0, 2) + spread(5, 1, 2)) / 2),
        # Three: p50 is exactly the middle one.
        ([(100, 1), (101, 1), (102, 1)], 0.5, spread(101, 0, 1)),
    ],
)
def test_a_percentile_is_read_exactly_from_its_buckets(counts, fraction, expected):
    assert selectors.histogram_percentile(counts, fraction) == pytest.approx(expected, rel=1e-12)


def test_a_rank_past_the_counted_replies_is_an_error():
    assert selectors._nth_time([(0, 1), (4, 2)], 2) == pytest.approx(spread(4, 1, 2), rel=1e-12)
    with pytest.raises(ValueError, match=r"^rank 3 of 3 replies$"):
        selectors._nth_time([(0, 1), (4, 2)], 3)


def test_first_token_percentiles_are_per_day_and_model_of_the_period(db):
    FirstTokenTimes.objects.bulk_create(
        FirstTokenTimes(day=day, model=model, bucket=bucket, replies=replies)
        for day, model, bucket, replies in [
            (BEFORE, "m", 5, 3),
            (FIRST, "m", 20, 1),  # stored before the lower bucket of its day and model
            (FIRST, "m", 10, 1),
            (LAST, "n", 0, 1),
            (LAST, "m", 30, 4),
            (AFTER, "m", 3, 1),
        ]
    )

    shown = selectors.first_token_percentiles(period=PERIOD)

    low, high = spread(10, 0, 1), spread(20, 0, 1)
    assert shown == {
        (FIRST, "m"): (
            pytest.approx((low + high) / 2, rel=1e-12),
            pytest.approx(low + 0.95 * (high - low), rel=1e-12),
        ),
        (LAST, "n"): (0.525, 0.525),
        (LAST, "m"): (
            pytest.approx((spread(30, 1, 4) + spread(30, 2, 4)) / 2, rel=1e-12),
            pytest.approx(spread(30, 2, 4) + 0.85 * (spread(30, 3, 4) - spread(30, 2, 4))),
        ),
    }
    assert all(type(day) is date for day, _model in shown)


ALICE_COST = Decimal(60 + 20 + 40) / MILLION  # m: 60 uncached, 40 cached, 20 completion
BOB_COST = Decimal(300 + 60) / MILLION
CAROL_COST = Decimal(55 + 50 + 40) / MILLION


def test_top_users_and_groups_by_tokens_then_name(people):
    users, groups = selectors.top_users_and_groups(period=PERIOD, prices=PRICES)

    assert users == [
        {"username": "bob", "messages": 2, "tokens": 330, "cost": BOB_COST, "unpriced": 0},
        # alice and carol tie at 175 tokens: by name.
        {"username": "alice", "messages": 3, "tokens": 175, "cost": ALICE_COST, "unpriced": 55},
        {"username": "carol", "messages": 3, "tokens": 175, "cost": CAROL_COST, "unpriced": 0},
    ]
    assert groups == [
        {
            "name": "team",
            "messages": 5,
            "tokens": 505,
            "cost": ALICE_COST + BOB_COST,
            "unpriced": 55,
        },
        {"name": "admins", "messages": 3, "tokens": 175, "cost": ALICE_COST, "unpriced": 55},
        {"name": "zeta", "messages": 3, "tokens": 175, "cost": ALICE_COST, "unpriced": 55},
    ]


def test_top_users_and_groups_stop_at_the_limit(people):
    users, groups = selectors.top_users_and_groups(period=PERIOD, prices=PRICES, limit=1)

    assert [user["username"] for user in users] == ["bob"]
    assert [group["name"] for group in groups] == ["team"]


def test_top_users_and_groups_read_in_chunks_of_one(people, monkeypatch):
    whole = selectors.top_users_and_groups(period=PERIOD, prices=PRICES)
    monkeypatch.setattr(selectors, "CHUNK", 1)

    assert selectors.top_users_and_groups(period=PERIOD, prices=PRICES) == whole
    assert sorted(
        name for _pk, name, _group in selectors._names_and_groups([people[2].pk, people[1].pk])
    ) == ["bob", "carol"]


def test_without_prices_every_token_is_unpriced(people):
    users, groups = selectors.top_users_and_groups(period=PERIOD, prices={})

    assert [(u["username"], u["cost"], u["unpriced"]) for u in users] == [
        ("bob", 0, 330),
        ("alice", 0, 175),
        ("carol", 0, 175),
    ]
    assert [(g["name"], g["cost"], g["unpriced"]) for g in groups] == [
        ("team", 0, 505),
        ("admins", 0, 175),
        ("zeta", 0, 175),
    ]


def test_spending_starts_at_zero():
    assert selectors._spending() == {"messages": 0, "tokens": 0, "cost": 0, "unpriced": 0}
    assert type(selectors._spending()["cost"]) is Decimal


def test_adding_a_row_with_and_without_a_cost():
    sums = selectors._spending()
    selectors._add(
        sums, {"messages": 2, "prompt_tokens": 10, "completion_tokens": 5}, cost=Decimal(3)
    )
    selectors._add(sums, {"messages": 1, "prompt_tokens": 7, "completion_tokens": 0}, cost=None)
    selectors._add(sums, {"messages": 4, "tokens": 100, "unpriced": 30}, cost=Decimal(1))

    assert sums == {"messages": 7, "tokens": 122, "cost": Decimal(4), "unpriced": 37}


def rated(model: str, when: str, rating: str) -> None:
    reply = MessageFactory(
        session=ChatSessionFactory(),
        role=Message.Role.ASSISTANT,
        model=model,
        created_at=at(when),
    )
    MessageFeedback.objects.create(user=reply.session.user, message=reply, rating=rating)


def test_feedback_is_counted_per_model_of_the_periods_replies(db):
    rated("m", "2026-02-28 23:59:59", "up")
    rated("m", "2026-03-01 00:00", "up")
    rated("m", "2026-03-01 12:00", "up")
    rated("m", "2026-03-02 23:59:59", "down")
    rated("n", "2026-03-02 10:00", "down")
    rated("a", "2026-03-01 10:00", "up")
    rated("z", "2026-03-03 00:00", "down")

    assert selectors.feedback_by_model(period=PERIOD) == [
        {"model": "a", "up": 1, "down": 0},
        {"model": "m", "up": 2, "down": 1},
        {"model": "n", "up": 0, "down": 1},
    ]


@pytest.fixture
def catalogue(db):
    provider = Provider.objects.create(name="p", base_url="http://127.0.0.1:1/v1")
    Model.objects.create(
        id="m",
        provider=provider,
        is_default=True,
        price_input=Decimal(1),
        price_cached_input=Decimal("0.5"),
        price_output=Decimal(2),
    )


def test_the_dashboard_sums_the_period_per_day_model_and_in_total(people, catalogue):
    FirstTokenTimes.objects.bulk_create(
        [
            FirstTokenTimes(day=FIRST, model="m", bucket=10, replies=1),
            FirstTokenTimes(day=LAST, model="n", bucket=0, replies=1),
            FirstTokenTimes(day=AFTER, model="m", bucket=50, replies=1),
        ]
    )
    rated("m", "2026-03-01 10:00", "up")

    shown = selectors.dashboard(period=PERIOD)

    first_m = spread(10, 0, 1)
    assert shown.period == PERIOD
    assert shown.rows == [
        {
            **row(FIRST, "m", 3, 1, 400, 50, 40),
            "ttft_p50": first_m,
            "ttft_p95": first_m,
            "cost": Decimal(360 + 20 + 100) / MILLION,
        },
        {**row(FIRST, "n", 1, 0, 50, 5, 0), "ttft_p50": None, "ttft_p95": None, "cost": None},
        {
            **row(LAST, "m", 3, 0, 155, 20, 100),
            "ttft_p50": None,
            "ttft_p95": None,
            "cost": CAROL_COST,
        },
        {**row(LAST, "n", 1, 1, 0, 0, 0), "ttft_p50": 0.525, "ttft_p95": 0.525, "cost": None},
    ]
    assert shown.models == ["m", "n"]
    assert shown.by_model == [
        {
            "model": "m",
            "messages": 6,
            "failed": 1,
            "prompt_tokens": 555,
            "completion_tokens": 70,
            "cached_tokens": 140,
            "cost": Decimal(415 + 70 + 140) / MILLION,
        },
        {
            "model": "n",
            "messages": 2,
            "failed": 1,
            "prompt_tokens": 50,
            "completion_tokens": 5,
            "cached_tokens": 0,
            "cost": None,
        },
    ]
    assert shown.totals == {
        "messages": 8,
        "failed": 2,
        "prompt_tokens": 605,
        "completion_tokens": 75,
        "cached_tokens": 140,
        "cost": Decimal(625) / MILLION,
        "unpriced_models": ["n"],
    }
    assert [user["username"] for user in shown.top_users] == ["bob", "alice", "carol"]
    assert shown.top_users[0]["cost"] == BOB_COST
    assert [group["name"] for group in shown.top_groups] == ["team", "admins", "zeta"]
    assert shown.feedback == [{"model": "m", "up": 1, "down": 0}]


def test_the_dashboard_of_a_period_without_usage_is_empty(people, catalogue):
    shown = selectors.dashboard(
        period=selectors.Period(start=date(2025, 1, 1), end=date(2025, 1, 2))
    )

    assert (shown.rows, shown.models, shown.by_model) == ([], [], [])
    assert (shown.top_users, shown.top_groups, shown.feedback) == ([], [], [])
    assert shown.totals == {
        "messages": 0,
        "failed": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cached_tokens": 0,
        "cost": 0,
        "unpriced_models": [],
    }
    # A Decimal, as the page shows it (an int 0 has no places to round to).
    assert cost(shown.totals["cost"]) == "0.000000"


def test_tokens_by_model_are_todays_and_the_utc_months_of_one_user(db):
    me, other = UserFactory(), UserFactory()
    today = date(2026, 3, 15)
    used(date(2026, 2, 28), me, "m", 1, 0, 5_000, 0, 0)  # last month
    used(date(2026, 3, 1), me, "m", 1, 0, 100, 10, 7)
    used(date(2026, 3, 14), me, "n", 1, 0, 30, 3, 0)
    used(today, me, "m", 2, 1, 40, 4, 9)
    used(today, me, "b", 1, 0, 1, 32, 0)
    used(date(2026, 3, 16), me, "m", 1, 0, 8_000, 0, 0)  # after today
    used(today, other, "m", 1, 0, 9_000, 0, 0)
    used(today, other, "z", 1, 0, 9_000, 0, 0)

    assert selectors.tokens_by_model(user=me, today=today) == [
        {"model": "m", "today": 44, "month": 154},
        # b and n tie at 33 this month: by name.
        {"model": "b", "today": 33, "month": 33},
        {"model": "n", "today": 0, "month": 33},
    ]
    first = date(2026, 3, 1)
    assert selectors.tokens_by_model(user=me, today=first) == [
        {"model": "m", "today": 110, "month": 110}
    ]
