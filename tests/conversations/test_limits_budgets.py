"""Token budgets as ``limits.reserve_tokens`` holds them: the send path reads no budget
from the database when none exists, and a user's once until a budget or membership
changes."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations import limits
from conversations.errors import QuotaExceeded
from tests.factories import UserFactory
from usage.models import GroupBudget

pytestmark = pytest.mark.django_db

CAP = 100


@pytest.fixture(autouse=True)
def _budgets(settings):
    """Local memory, fresh for each test; no global quota, reply cap 100."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "budget-tests",
        }
    }
    cache.clear()
    settings.CHATBOT_DAILY_TOKEN_QUOTA = 0
    settings.CHATBOT_MAX_REPLY_TOKENS = CAP


def budget(user, **tokens) -> GroupBudget:
    group = Group.objects.create(name=f"team {Group.objects.count()}")
    user.groups.add(group)
    return GroupBudget.objects.create(group=group, **tokens)


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


def test_with_budgets_a_users_are_read_once_until_a_budget_or_membership_changes(user):
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
