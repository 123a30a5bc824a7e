"""A user's token budgets: the most generous of their groups', else the global daily quota.

They are read on every send, so they are cached: whether any budget exists (none: no query
at all) and each user's, under a generation that a budget or a membership change replaces.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Max

from conversations.limits import Budgets
from usage.models import GroupBudget

GENERATION_KEY = "usage-budgets"
# Where processes do not share a cache (local memory), another process's change shows
# within this many seconds; with Redis a change shows at once.
CACHE_SECONDS = 300


def budgets_for(user) -> Budgets:
    """``user``'s (or a user id's) budgets: per UTC day the largest daily budget of their
    groups, else ``CHATBOT_DAILY_TOKEN_QUOTA`` (0: no limit); per UTC calendar month the
    largest monthly budget of their groups (None: no limit)."""
    generation, any_budget = _generation()
    most = {"daily": None, "monthly": None}
    if any_budget:
        user_id = getattr(user, "pk", user)
        key = f"{GENERATION_KEY}:{generation}:{user_id}"
        most = cache.get(key)
        if most is None:
            most = GroupBudget.objects.filter(group__user=user_id).aggregate(
                daily=Max("daily_tokens"), monthly=Max("monthly_tokens")
            )
            cache.set(key, most, timeout=CACHE_SECONDS)
    daily = settings.CHATBOT_DAILY_TOKEN_QUOTA if most["daily"] is None else most["daily"]
    return Budgets(daily=daily, monthly=most["monthly"])


def daily_budget_for(user) -> int:
    """Tokens ``user`` (or a user id) may spend per UTC day (0: no limit)."""
    return budgets_for(user).daily


def monthly_budget_for(user) -> int | None:
    """Tokens ``user`` (or a user id) may spend per UTC calendar month (None: no limit)."""
    return budgets_for(user).monthly


def _generation() -> tuple[str, bool]:
    """The current generation of cached budgets, and whether any budget exists."""
    current = cache.get(GENERATION_KEY)
    if current is None:
        current = (uuid.uuid4().hex, GroupBudget.objects.exists())
        cache.set(GENERATION_KEY, current, timeout=CACHE_SECONDS)
    return current


def forget_budgets(**kwargs) -> None:
    """Start a new generation: now, and again once the change is committed (a send that
    read the old rows meanwhile must not keep them)."""
    cache.delete(GENERATION_KEY)
    transaction.on_commit(lambda: cache.delete(GENERATION_KEY))
