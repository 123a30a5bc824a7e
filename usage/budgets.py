"""A user's token budgets: the most generous of their groups', else the global daily quota,
and their own where an admin set one (the stricter then binds).

They are read on every send, so they are cached: whether any budget exists (none: no query
at all) and each user's, under a generation that a budget or a membership change replaces.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.db.models import Max

from conversations.limits import Budgets
from usage.models import GroupBudget, UserBudget

GENERATION_KEY = "usage-budgets"
# Where processes do not share a cache (local memory), another process's change shows
# within this many seconds; with Redis a change shows at once.
CACHE_SECONDS = 300


def budgets_for(user) -> Budgets:
    """``user``'s (or a user id's) budgets: per UTC day the largest daily budget of their
    groups, else ``CHATBOT_DAILY_TOKEN_QUOTA`` (0: no limit); per UTC calendar month the
    largest monthly budget of their groups (None: no limit); each capped by the user's
    own budget where one is set."""
    generation, any_budget = _generation()
    found = {"daily": None, "monthly": None, "own_daily": None, "own_monthly": None}
    if any_budget:
        user_id = getattr(user, "pk", user)
        key = f"{GENERATION_KEY}:{generation}:{user_id}"
        found = cache.get(key)
        if found is None:
            found = _read(user_id)
            cache.set(key, found, timeout=CACHE_SECONDS)
    daily = settings.CHATBOT_DAILY_TOKEN_QUOTA if found["daily"] is None else found["daily"]
    return Budgets(
        daily=_stricter(daily or None, found["own_daily"]) or 0,
        monthly=_stricter(found["monthly"], found["own_monthly"]),
    )


def _read(user_id: int) -> dict:
    """The largest budgets of the user's groups, and the user's own; one query."""
    return (
        get_user_model()
        .objects.filter(pk=user_id)
        .aggregate(
            daily=Max("groups__token_budget__daily_tokens"),
            monthly=Max("groups__token_budget__monthly_tokens"),
            own_daily=Max("token_budget__daily_tokens"),
            own_monthly=Max("token_budget__monthly_tokens"),
        )
    )


def _stricter(first: int | None, second: int | None) -> int | None:
    """The smaller of two limits, where None is no limit."""
    return min((limit for limit in (first, second) if limit), default=None)


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
        any_budget = GroupBudget.objects.exists() or UserBudget.objects.exists()
        current = (uuid.uuid4().hex, any_budget)
        cache.set(GENERATION_KEY, current, timeout=CACHE_SECONDS)
    return current


def forget_budgets(**kwargs) -> None:
    """Start a new generation: now, and again once the change is committed (a send that
    read the old rows meanwhile must not keep them)."""
    cache.delete(GENERATION_KEY)
    transaction.on_commit(lambda: cache.delete(GENERATION_KEY))
