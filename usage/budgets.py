"""A user's token budgets: the most generous of their groups', else the global daily quota."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Max

from usage.models import GroupBudget


def daily_budget_for(user) -> int:
    """Tokens ``user`` (or a user id) may spend per UTC day: the largest daily budget of
    their groups, or ``CHATBOT_DAILY_TOKEN_QUOTA`` when no group of theirs sets one
    (0: no limit)."""
    most = _most_generous(user, "daily_tokens")
    return settings.CHATBOT_DAILY_TOKEN_QUOTA if most is None else most


def monthly_budget_for(user) -> int | None:
    """Tokens ``user`` (or a user id) may spend per UTC calendar month: the largest monthly
    budget of their groups; None when no group of theirs sets one."""
    return _most_generous(user, "monthly_tokens")


def _most_generous(user, field: str) -> int | None:
    budgets = GroupBudget.objects.filter(group__user=user, **{f"{field}__isnull": False})
    return budgets.aggregate(most=Max(field))["most"]
