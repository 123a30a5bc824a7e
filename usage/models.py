"""Token budgets per group and per user, the usage summed as replies end, and the
permission to see everyone's usage."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from sharing.models import MessageFeedback


def _budget_constraints(prefix: str) -> list[models.BaseConstraint]:
    """A budget sets at least one limit, and no limit is 0 (which would read as "no limit"
    where the daily quota is enforced)."""
    return [
        models.CheckConstraint(
            condition=Q(daily_tokens__isnull=False) | Q(monthly_tokens__isnull=False),
            name=f"{prefix}_sets_a_limit",
            violation_error_message="Set a daily budget, a monthly budget or both.",
        ),
        models.CheckConstraint(
            condition=Q(daily_tokens__gte=1) | Q(daily_tokens__isnull=True),
            name=f"{prefix}_daily_positive",
        ),
        models.CheckConstraint(
            condition=Q(monthly_tokens__gte=1) | Q(monthly_tokens__isnull=True),
            name=f"{prefix}_monthly_positive",
        ),
    ]


class TokenBudget(models.Model):
    """Tokens a day's and a month's (UTC) replies may spend, each optional."""

    daily_tokens = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Tokens per UTC day (for each member of a group); empty: none set here.",
    )
    monthly_tokens = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Tokens per UTC calendar month (for each member of a group); empty: none "
        "set here.",
    )
    # The field naming who the budget binds: "group" or "user".
    owner_field: str

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"Budget of {getattr(self, self.owner_field)}"


class GroupBudget(TokenBudget):
    """Tokens each member of a group may spend; a member gets their groups' largest."""

    group = models.OneToOneField(Group, on_delete=models.CASCADE, related_name="token_budget")
    owner_field = "group"

    class Meta:
        constraints = _budget_constraints("group_budget")


class UserBudget(TokenBudget):
    """Tokens one user may spend, on top of their groups' budgets: whichever is spent
    first refuses the send."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="token_budget"
    )
    owner_field = "user"

    class Meta:
        constraints = _budget_constraints("user_budget")


class DailyUsage(models.Model):
    """One user's replies by one model on one UTC day, added to as each reply ends
    (``usage.rollup``): what the dashboard, ``/api/usage`` and Settings read, so that
    their cost follows the days asked for, not the replies stored."""

    day = models.DateField()
    # Indexed first in (user, day) below.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    model = models.CharField(max_length=100, blank=True)
    messages = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    cached_tokens = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "user", "model"], name="daily_usage_key")
        ]
        indexes = [models.Index(fields=["user", "day"], name="daily_usage_user_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.user_id} {self.model}: {self.messages}"


class FirstTokenTimes(models.Model):
    """How many replies by one model on one UTC day had their first token within one
    bucket of time (``usage.rollup.bucket_of``): the histogram p50 and p95 are read from."""

    day = models.DateField()
    model = models.CharField(max_length=100, blank=True)
    bucket = models.PositiveSmallIntegerField()
    replies = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "model", "bucket"], name="first_token_times_key")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.model} bucket {self.bucket}: {self.replies}"


class ReplyRating(models.Model):
    """A copy of one rating (``sharing.MessageFeedback``) with its reply's UTC day and
    model, kept on each save and deleted with it, so that the dashboard counts ratings per
    model and day without reading the replies."""

    feedback = models.OneToOneField(
        MessageFeedback, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    day = models.DateField(db_index=True)
    model = models.CharField(max_length=100, blank=True)
    rating = models.CharField(max_length=4, choices=MessageFeedback.Rating.choices)

    def __str__(self) -> str:
        return f"{self.rating} on {self.day} {self.model}"


class UsageDashboard(models.Model):
    """No table: the admin's usage dashboard hangs here, with its ``view_usage`` permission."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_usage", "Can view everyone's usage")]
        verbose_name = verbose_name_plural = "usage dashboard"

    def __str__(self) -> str:
        return "Usage dashboard"
