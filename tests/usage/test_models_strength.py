"""``usage.models`` asked directly: each budget constraint's name and which budgets it refuses
(none, 0 and 1 a day or a month), with the sentence an admin reads, and each row's text as
admin lists it. The constraints are built when the module is imported, before mutation
testing picks a mutant, so the test builds them again by calling the function."""

from __future__ import annotations

from datetime import date

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from sharing.models import MessageFeedback
from tests.factories import ChatSessionFactory, MessageFactory, UserFactory
from usage import models
from usage.models import (
    DailyUsage,
    FirstTokenTimes,
    GroupBudget,
    ReplyRating,
    UsageDashboard,
    UserBudget,
)

pytestmark = pytest.mark.django_db

NO_LIMIT = "Set a daily budget, a monthly budget or both."


def refusals(daily, monthly) -> list[str]:
    """The messages of the constraints a budget of ``daily`` and ``monthly`` breaks."""
    found = []
    for constraint in models._budget_constraints("budget"):
        try:
            constraint.validate(
                GroupBudget, GroupBudget(daily_tokens=daily, monthly_tokens=monthly)
            )
        except ValidationError as error:
            found.extend(error.messages)
    return found


def test_the_constraints_are_named_after_their_table():
    assert [c.name for c in models._budget_constraints("user_budget")] == [
        "user_budget_sets_a_limit",
        "user_budget_daily_positive",
        "user_budget_monthly_positive",
    ]
    assert [c.name for c in GroupBudget._meta.constraints] == [
        "group_budget_sets_a_limit",
        "group_budget_daily_positive",
        "group_budget_monthly_positive",
    ]


@pytest.mark.parametrize(
    ("daily", "monthly", "refused"),
    [
        (None, None, [NO_LIMIT]),
        (1, None, []),
        (None, 1, []),
        (1, 1, []),
        (0, None, ["Constraint “budget_daily_positive” is violated."]),
        (None, 0, ["Constraint “budget_monthly_positive” is violated."]),
        (0, 5, ["Constraint “budget_daily_positive” is violated."]),
        (5, 0, ["Constraint “budget_monthly_positive” is violated."]),
    ],
)
def test_a_budget_sets_a_limit_and_no_limit_of_zero(daily, monthly, refused):
    assert refusals(daily, monthly) == refused


def test_each_row_reads_as_admin_lists_it():
    user = UserFactory(username="alice")
    group = Group.objects.create(name="research")
    reply = MessageFactory(session=ChatSessionFactory(user=user), role="assistant")
    feedback = MessageFeedback.objects.create(user=user, message=reply, rating="up")
    copy = ReplyRating.objects.get(feedback=feedback)
    copy.day, copy.model = date(2026, 3, 1), "m"

    assert str(GroupBudget(group=group, daily_tokens=1)) == "Budget of research"
    assert str(UserBudget(user=user, daily_tokens=1)) == "Budget of alice"
    usage = DailyUsage(day=date(2026, 3, 1), user=user, model="m", messages=4)
    assert str(usage) == f"2026-03-01 {user.pk} m: 4"
    times = FirstTokenTimes(day=date(2026, 3, 1), model="m", bucket=7, replies=2)
    assert str(times) == "2026-03-01 m bucket 7: 2"
    assert str(copy) == "up on 2026-03-01 m"
    assert str(UsageDashboard()) == "Usage dashboard"
