"""Token budgets per group and per user, and the permission to see everyone's usage."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q


class GroupBudget(models.Model):
    """Tokens a group's members may spend: a day's and a month's (UTC), each optional."""

    group = models.OneToOneField(Group, on_delete=models.CASCADE, related_name="token_budget")
    daily_tokens = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Tokens per UTC day for each member; empty: this group sets none.",
    )
    monthly_tokens = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Tokens per UTC calendar month for each member; empty: this group sets none.",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(daily_tokens__isnull=False) | Q(monthly_tokens__isnull=False),
                name="group_budget_sets_a_limit",
                violation_error_message="Set a daily budget, a monthly budget or both.",
            ),
            # 0 would read as "no limit" where the daily quota is enforced.
            models.CheckConstraint(
                condition=Q(daily_tokens__gte=1) | Q(daily_tokens__isnull=True),
                name="group_budget_daily_positive",
            ),
            models.CheckConstraint(
                condition=Q(monthly_tokens__gte=1) | Q(monthly_tokens__isnull=True),
                name="group_budget_monthly_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"Budget of {self.group}"


class UserBudget(models.Model):
    """Tokens one user may spend, on top of their groups' budgets: whichever is spent
    first refuses the send."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="token_budget"
    )
    daily_tokens = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Tokens per UTC day; empty: none of the user's own.",
    )
    monthly_tokens = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Tokens per UTC calendar month; empty: none of the user's own.",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(daily_tokens__isnull=False) | Q(monthly_tokens__isnull=False),
                name="user_budget_sets_a_limit",
                violation_error_message="Set a daily budget, a monthly budget or both.",
            ),
            models.CheckConstraint(
                condition=Q(daily_tokens__gte=1) | Q(daily_tokens__isnull=True),
                name="user_budget_daily_positive",
            ),
            models.CheckConstraint(
                condition=Q(monthly_tokens__gte=1) | Q(monthly_tokens__isnull=True),
                name="user_budget_monthly_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"Budget of {self.user}"


class UsageDashboard(models.Model):
    """No table: the admin's usage dashboard hangs here, with its ``view_usage`` permission."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_usage", "Can view everyone's usage")]
        verbose_name = verbose_name_plural = "usage dashboard"

    def __str__(self) -> str:
        return "Usage dashboard"
