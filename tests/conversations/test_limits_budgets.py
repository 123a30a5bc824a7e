"""Token budgets as ``limits.reserve_tokens`` holds them: the send path reads no budget
from the database when none exists, a monthly budget counts from the month's stored
replies, refuses once a prompt no longer fits, and renews on the first of the next UTC
month; the month comes first when both a day and a month are spent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations import limits
from conversations.errors import BudgetExceeded, QuotaExceeded
from tests.factories import UserFactory, conversation
from tests.usage.factories import reply
from usage.models import GroupBudget

pytestmark = pytest.mark.django_db

CAP = 100


@pytest.fixture(autouse=True)
def _budgets(settings):
    """Local memory, whose expiry follows the frozen clock; no global quota, reply cap 100."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "budget-tests",
        }
    }
    cache.clear()
    settings.CHATBOT_DAILY_TOKEN_QUOTA = 0
    settings.CHATBOT_MAX_REPLY_TOKENS = CAP


def at(frozen_clock, moment: str) -> None:
    frozen_clock.now = datetime.fromisoformat(moment).replace(tzinfo=UTC).timestamp()


def budget(user, **tokens) -> GroupBudget:
    group = Group.objects.create(name=f"team {Group.objects.count()}")
    user.groups.add(group)
    return GroupBudget.objects.create(group=group, **tokens)


def month_held(user, month: str) -> int | None:
    return cache.get(f"token-month:{user.pk}:{month}")


@pytest.mark.parametrize("quota", [0, 5_000], ids=["quota off", "daily quota"])
def test_without_budgets_a_reservation_queries_nothing(user, settings, quota):
    settings.CHATBOT_DAILY_TOKEN_QUOTA = quota
    budget(UserFactory(), monthly_tokens=10)  # someone else's, then removed
    GroupBudget.objects.all().delete()
    limits.reserve_tokens(user.pk, prompt_tokens=10)  # learns that no budget exists

    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            limits.reserve_tokens(user.pk + 1, prompt_tokens=10)
            limits.reserve_tokens(user.pk, prompt_tokens=10)

    assert queries.captured_queries == []


def test_a_users_budgets_are_read_once_until_a_budget_or_membership_changes(user):
    limits.reserve_tokens(user.pk, prompt_tokens=10)
    team = budget(user, daily_tokens=1_000)

    with CaptureQueriesContext(connection) as first:
        assert limits.reserve_tokens(user.pk, prompt_tokens=10).tokens == 10 + CAP
    with CaptureQueriesContext(connection) as again:
        limits.reserve_tokens(user.pk, prompt_tokens=10)
    assert len(first.captured_queries) == 2  # whether any budget exists; the user's
    assert again.captured_queries == []

    team.daily_tokens = 300  # 220 held: a prompt of 10 (+ the cap) no longer fits
    team.save()
    with pytest.raises(QuotaExceeded):
        limits.reserve_tokens(user.pk, prompt_tokens=90)
    user.groups.clear()
    assert limits.reserve_tokens(user.pk, prompt_tokens=90) is None


def test_a_monthly_budget_counts_the_months_stored_replies_once(user, frozen_clock):
    session = conversation(user, turns=0)
    reply(session, "2026-10-31 23:59", prompt_tokens=5_000, completion_tokens=0)
    reply(session, "2026-11-01 00:00", prompt_tokens=400, completion_tokens=100)
    # No figures from the model: counted by the reply's own token count, as settled.
    reply(session, "2026-11-20 10:00", prompt_tokens=None, completion_tokens=None, token_count=300)
    reply(conversation(UserFactory(), turns=0), "2026-11-21 10:00", prompt_tokens=9_000)
    budget(user, monthly_tokens=1_000)
    at(frozen_clock, "2026-11-30 12:00")

    with CaptureQueriesContext(connection) as first:
        held = limits.reserve_tokens(user.pk, prompt_tokens=150)
    with CaptureQueriesContext(connection) as then:
        limits.settle_tokens(held, spent=160)
        limits.reserve_tokens(user.pk, prompt_tokens=10)

    assert held.tokens == 150 + CAP
    assert month_held(user, "2026-11") == 800 + 160 + 10 + CAP
    assert len(first.captured_queries) == 3  # budgets exist; the user's; the month's replies
    assert then.captured_queries == []


def test_a_monthly_budget_refuses_once_a_prompt_no_longer_fits(user, frozen_clock):
    at(frozen_clock, "2026-11-10 09:00")
    budget(user, monthly_tokens=1_000)
    first = limits.reserve_tokens(user.pk, prompt_tokens=700)
    limits.settle_tokens(first, spent=750)

    assert limits.reserve_tokens(user.pk, prompt_tokens=250) is not None  # 750 + 250 fits
    with pytest.raises(BudgetExceeded) as refused:
        limits.reserve_tokens(user.pk, prompt_tokens=1)

    assert refused.value.status_code == 429
    assert refused.value.code == "budget_exceeded"
    assert refused.value.detail == (
        "You have used this month's token budget. It renews on 2026-12-01 at 00:00 UTC."
    )
    assert refused.value.retry_after == 20 * 86_400 + 15 * 3600 + 1
    assert month_held(user, "2026-11") == 750 + 250 + CAP  # the refusal holds nothing


def test_the_month_renews_on_the_first_at_midnight_utc(user, frozen_clock):
    at(frozen_clock, "2026-11-30 23:59:30")
    budget(user, monthly_tokens=500)
    late = limits.reserve_tokens(user.pk, prompt_tokens=400)
    with pytest.raises(BudgetExceeded) as refused:
        limits.reserve_tokens(user.pk, prompt_tokens=200)
    assert refused.value.retry_after == 31

    frozen_clock.advance(30)  # 2026-12-01 00:00:00
    december = limits.reserve_tokens(user.pk, prompt_tokens=200)
    # November's last reply ends in December: it settles against November.
    limits.settle_tokens(late, spent=450)

    assert december.keys == (f"token-month:{user.pk}:2026-12",)
    assert month_held(user, "2026-11") == 450
    assert month_held(user, "2026-12") == 200 + CAP


def test_december_31_renews_on_january_1(user, frozen_clock):
    at(frozen_clock, "2026-12-31 12:00")
    budget(user, monthly_tokens=50)

    with pytest.raises(BudgetExceeded) as refused:
        limits.reserve_tokens(user.pk, prompt_tokens=60)

    assert "It renews on 2027-01-01 at 00:00 UTC." in refused.value.detail
    assert refused.value.retry_after == 12 * 3600 + 1


def test_a_spent_month_is_named_even_when_today_is_spent_too(user, frozen_clock, settings):
    at(frozen_clock, "2026-11-10 09:00")
    settings.CHATBOT_DAILY_TOKEN_QUOTA = 300
    budget(user, monthly_tokens=300)
    limits.reserve_tokens(user.pk, prompt_tokens=250)

    with pytest.raises(BudgetExceeded):
        limits.reserve_tokens(user.pk, prompt_tokens=100)


def test_a_day_refusal_releases_what_the_month_held(user, frozen_clock, settings):
    at(frozen_clock, "2026-11-10 09:00")
    budget(user, daily_tokens=300, monthly_tokens=10_000)
    held = limits.reserve_tokens(user.pk, prompt_tokens=250)

    with pytest.raises(QuotaExceeded) as refused:
        limits.reserve_tokens(user.pk, prompt_tokens=100)

    assert not isinstance(refused.value, BudgetExceeded)
    assert refused.value.code == "quota_exceeded"
    assert refused.value.retry_after == 15 * 3600 + 1
    assert held.keys == (f"token-month:{user.pk}:2026-11", f"token-quota:{user.pk}:2026-11-10")
    assert month_held(user, "2026-11") == 250 + CAP
    limits.settle_tokens(held, spent=0)
    assert month_held(user, "2026-11") == 0
    assert cache.get(f"token-quota:{user.pk}:2026-11-10") == 0
