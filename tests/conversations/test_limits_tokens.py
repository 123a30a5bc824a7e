"""Token budgets at their edges, as ``limits.reserve_tokens`` and ``settle_tokens`` hold
them: a budget reached but not exceeded, a budget of 1, the "off" values, each user's own
counts, what a refusal releases, the exact Retry-After from a controlled clock, how long a
count lives, and which of the month's stored replies a new monthly count starts from."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.cache import cache
from django.utils import timezone

from conversations import limits
from conversations.errors import BudgetExceeded, QuotaExceeded
from tests.factories import MessageFactory, UserFactory, conversation
from tests.usage.factories import reply

pytestmark = pytest.mark.django_db

CAP = 100
DAY = 86_400


@pytest.fixture(autouse=True)
def _local_cache(settings):
    """Local memory, whose expiry follows the frozen clock (Redis keeps its own time)."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "token-limit-tests",
        }
    }
    cache.clear()
    settings.CHATBOT_MAX_REPLY_TOKENS = CAP


@pytest.fixture
def budgets(monkeypatch):
    """Each user's budgets as the test states them (``use_budgets``), restored after."""
    monkeypatch.setattr(limits, "_budgets_for", limits._budgets_for)
    table: dict[int, limits.Budgets] = {}
    limits.use_budgets(lambda user_id: table.get(user_id, limits.Budgets(daily=0)))
    return table


def at(frozen_clock, moment: str) -> None:
    frozen_clock.now = datetime.fromisoformat(moment).replace(tzinfo=UTC).timestamp()


def day_count(user_id: int, day: str) -> int | None:
    return cache.get(f"token-quota:{user_id}:{day}")


def month_count(user_id: int, month: str) -> int | None:
    return cache.get(f"token-month:{user_id}:{month}")


def test_use_budgets_decides_each_users_budgets(budgets, frozen_clock):
    at(frozen_clock, "2026-11-10 09:00")
    budgets[1] = limits.Budgets(daily=500)
    budgets[2] = limits.Budgets(daily=0, monthly=700)

    first = limits.reserve_tokens(1, prompt_tokens=20)
    second = limits.reserve_tokens(2, prompt_tokens=30)

    assert first == limits.Reservation(keys=("token-quota:1:2026-11-10",), tokens=20 + CAP)
    assert second == limits.Reservation(keys=("token-month:2:2026-11",), tokens=30 + CAP)
    assert limits.reserve_tokens(3, prompt_tokens=10**9) is None


@pytest.mark.parametrize(
    "off", [limits.Budgets(daily=0), limits.Budgets(daily=0, monthly=0), limits.Budgets(daily=-1)]
)
def test_no_budget_reserves_nothing_and_refuses_nothing(budgets, frozen_clock, off):
    budgets[1] = off
    at(frozen_clock, "2026-11-10 09:00")
    for _ in range(3):
        assert limits.reserve_tokens(1, prompt_tokens=10**9) is None
    assert day_count(1, "2026-11-10") is None
    assert month_count(1, "2026-11") is None


@pytest.mark.parametrize("daily", [1, 2, 250])
def test_a_daily_budget_is_reached_but_not_exceeded(budgets, frozen_clock, daily):
    at(frozen_clock, "2026-11-10 09:00")
    budgets[1] = limits.Budgets(daily=daily)
    budgets[2] = limits.Budgets(daily=daily)

    # The first send's prompt fills the day exactly; its reply may run past by the cap.
    exact = limits.reserve_tokens(1, prompt_tokens=daily)
    assert exact.tokens == daily + CAP
    with pytest.raises(QuotaExceeded):
        limits.reserve_tokens(1, prompt_tokens=1)
    assert day_count(1, "2026-11-10") == daily + CAP  # the refusal holds nothing

    # A prompt one token over refuses at once; another user's count is their own.
    with pytest.raises(QuotaExceeded):
        limits.reserve_tokens(2, prompt_tokens=daily + 1)
    assert day_count(2, "2026-11-10") == 0
    assert limits.reserve_tokens(2, prompt_tokens=daily).keys == ("token-quota:2:2026-11-10",)


@pytest.mark.parametrize("monthly", [1, 2, 900])
def test_a_monthly_budget_is_reached_but_not_exceeded(user, budgets, frozen_clock, monthly):
    at(frozen_clock, "2026-02-27 18:30")
    budgets[user.pk] = limits.Budgets(daily=0, monthly=monthly)

    assert limits.reserve_tokens(user.pk, prompt_tokens=monthly).tokens == monthly + CAP
    with pytest.raises(BudgetExceeded) as refused:
        limits.reserve_tokens(user.pk, prompt_tokens=1)

    assert "It renews on 2026-03-01 at 00:00 UTC." in refused.value.detail
    assert refused.value.retry_after == 29 * 3600 + 30 * 60 + 1
    assert month_count(user.pk, "2026-02") == monthly + CAP


@pytest.mark.parametrize(
    ("moment", "retry_after"),
    [
        ("2026-11-10 00:00:00", DAY + 1),
        ("2026-11-10 09:00:00", 15 * 3600 + 1),
        ("2026-11-10 23:59:59", 2),
        ("2026-12-31 23:00:00", 3601),
    ],
)
def test_a_day_refusal_waits_for_the_next_utc_midnight(budgets, frozen_clock, moment, retry_after):
    budgets[1] = limits.Budgets(daily=10)
    at(frozen_clock, moment)
    limits.reserve_tokens(1, prompt_tokens=10)

    with pytest.raises(QuotaExceeded) as refused:
        limits.reserve_tokens(1, prompt_tokens=1)

    assert refused.value.retry_after == retry_after


@pytest.mark.parametrize(
    ("moment", "renews"),
    [
        ("2026-01-31 12:00", "2026-02-01"),
        ("2026-02-01 00:00", "2026-03-01"),
        ("2028-02-29 12:00", "2028-03-01"),
        ("2026-04-30 12:00", "2026-05-01"),
        ("2026-12-01 00:00", "2027-01-01"),
    ],
)
def test_a_month_renews_on_the_first_of_the_next(user, budgets, frozen_clock, moment, renews):
    budgets[user.pk] = limits.Budgets(daily=0, monthly=10)
    at(frozen_clock, moment)

    with pytest.raises(BudgetExceeded) as refused:
        limits.reserve_tokens(user.pk, prompt_tokens=11)

    assert f"It renews on {renews} at 00:00 UTC." in refused.value.detail
    expected = datetime.fromisoformat(renews).replace(tzinfo=UTC).timestamp() - frozen_clock.now
    assert refused.value.retry_after == int(expected) + 1
    assert month_count(user.pk, moment[:7]) == 0


def test_a_day_refusal_releases_the_day_and_the_month(user, budgets, frozen_clock):
    at(frozen_clock, "2026-11-10 09:00")
    budgets[user.pk] = limits.Budgets(daily=150, monthly=10_000)
    limits.reserve_tokens(user.pk, prompt_tokens=100)

    with pytest.raises(QuotaExceeded):
        limits.reserve_tokens(user.pk, prompt_tokens=51)

    assert day_count(user.pk, "2026-11-10") == 100 + CAP
    assert month_count(user.pk, "2026-11") == 100 + CAP


@pytest.mark.parametrize("spent", [0, 30, 20 + CAP, 500])
def test_settling_replaces_the_reservation_by_what_was_spent(user, budgets, frozen_clock, spent):
    at(frozen_clock, "2026-11-10 09:00")
    budgets[user.pk] = limits.Budgets(daily=1_000, monthly=5_000)
    other = limits.reserve_tokens(user.pk, prompt_tokens=5)
    reservation = limits.reserve_tokens(user.pk, prompt_tokens=20)

    limits.settle_tokens(reservation, spent=spent)
    limits.settle_tokens(None, spent=spent)

    assert reservation.tokens == 20 + CAP
    assert day_count(user.pk, "2026-11-10") == other.tokens + spent
    assert month_count(user.pk, "2026-11") == other.tokens + spent


@pytest.mark.parametrize(("key", "lifetime"), [("token-quota", 2 * DAY), ("token-month", 32 * DAY)])
def test_a_count_outlives_its_period_by_about_a_day(user, budgets, frozen_clock, key, lifetime):
    at(frozen_clock, "2026-11-10 00:00")
    budgets[user.pk] = limits.Budgets(daily=1_000, monthly=1_000)
    reservation = limits.reserve_tokens(user.pk, prompt_tokens=5)
    [counted] = [name for name in reservation.keys if name.startswith(key)]

    frozen_clock.advance(lifetime - 0.001)
    assert cache.get(counted) == 5 + CAP
    frozen_clock.advance(0.001)
    assert cache.get(counted) is None


@pytest.mark.parametrize(
    ("kept", "key", "lifetime"),
    [
        (limits.Budgets(daily=1_000), "token-quota:{user}:2026-11-10", 2 * DAY),
        (limits.Budgets(daily=0, monthly=1_000), "token-month:{user}:2026-11", 32 * DAY),
    ],
    ids=["day", "month"],
)
def test_a_count_that_expires_as_it_starts_starts_again_from_this_send(
    user, budgets, frozen_clock, monkeypatch, kept, key, lifetime
):
    at(frozen_clock, "2026-11-10 00:00")
    budgets[user.pk] = kept
    key = key.format(user=user.pk)
    real_add, expired = cache.add, []

    def add_then_expire(key, value, timeout):
        added = real_add(key, value, timeout=timeout)
        if not expired:
            expired.append(cache.delete(key))
        return added

    with monkeypatch.context() as patch:
        patch.setattr(cache, "add", add_then_expire)
        limits.reserve_tokens(user.pk, prompt_tokens=7)

    assert expired == [True]
    assert cache.get(key) == 7 + CAP
    frozen_clock.advance(lifetime - 0.001)
    assert cache.get(key) == 7 + CAP
    frozen_clock.advance(0.001)
    assert cache.get(key) is None


def test_a_new_monthly_count_starts_from_the_users_replies_of_the_month(
    user, budgets, frozen_clock
):
    session = conversation(user, turns=0)
    # Reported figures count, a missing one as 0; without any, the reply's own count.
    reply(session, "2026-11-02 10:00", prompt_tokens=None, completion_tokens=40)
    reply(session, "2026-11-03 10:00", prompt_tokens=60, completion_tokens=None)
    reply(session, "2026-11-04 10:00", prompt_tokens=0, completion_tokens=0, token_count=9)
    reply(session, "2026-11-05 10:00", prompt_tokens=0, completion_tokens=5, token_count=900)
    reply(session, "2026-11-06 10:00", prompt_tokens=None, completion_tokens=0, token_count=3)
    reply(session, "2026-10-31 23:59", prompt_tokens=7_000, completion_tokens=0)
    # The user's own messages, and another user's replies, are not spent by the user.
    MessageFactory(session=session, role="user", content="question", token_count=800)
    reply(conversation(UserFactory(), turns=0), "2026-11-07 10:00", prompt_tokens=5_000)
    at(frozen_clock, "2026-11-20 12:00")
    budgets[user.pk] = limits.Budgets(daily=0, monthly=10_000)

    limits.reserve_tokens(user.pk, prompt_tokens=1)

    assert month_count(user.pk, "2026-11") == 40 + 60 + 9 + 5 + 3 + 1 + CAP


def test_a_new_monthly_count_without_replies_starts_from_zero(user, budgets, frozen_clock):
    at(frozen_clock, "2026-11-20 12:00")
    budgets[user.pk] = limits.Budgets(daily=0, monthly=10_000)

    limits.reserve_tokens(user.pk, prompt_tokens=1)

    assert month_count(user.pk, "2026-11") == 1 + CAP


def test_without_a_provider_every_user_has_the_global_daily_quota(
    monkeypatch, settings, frozen_clock
):
    """The module's own default, before an app (usage) registers its budgets."""
    monkeypatch.setattr(limits, "_budgets_for", limits._global_budgets)
    settings.CHATBOT_DAILY_TOKEN_QUOTA = 300

    assert limits.reserve_tokens(1, prompt_tokens=300).tokens == 300 + CAP
    assert limits.reserve_tokens(2, prompt_tokens=300).tokens == 300 + CAP
    with pytest.raises(QuotaExceeded):
        limits.reserve_tokens(1, prompt_tokens=1)
    settings.CHATBOT_DAILY_TOKEN_QUOTA = 0
    assert limits.reserve_tokens(1, prompt_tokens=10**9) is None


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Auckland", "America/Los_Angeles"])
def test_the_month_starts_at_utc_midnight_whatever_the_time_zones(
    user, budgets, frozen_clock, settings, zone
):
    """The site's time zone (``TIME_ZONE``) and the active one leave the UTC month as is."""
    settings.TIME_ZONE = zone
    session = conversation(user, turns=0)
    reply(session, "2026-10-31 23:59", prompt_tokens=7_000, completion_tokens=0)
    reply(session, "2026-11-01 00:00", prompt_tokens=30, completion_tokens=0)
    reply(session, "2026-11-01 07:59", prompt_tokens=9, completion_tokens=0)
    at(frozen_clock, "2026-11-20 12:00")
    budgets[user.pk] = limits.Budgets(daily=0, monthly=10_000)

    with timezone.override(zone):
        limits.reserve_tokens(user.pk, prompt_tokens=1)

    assert month_count(user.pk, "2026-11") == 30 + 9 + 1 + CAP
