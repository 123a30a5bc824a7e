"""Usage in Django admin: group budgets, and the dashboard for staff with ``view_usage``."""

from __future__ import annotations

import csv
from datetime import timedelta

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from usage import charts, selectors
from usage.models import GroupBudget, UsageDashboard, UserBudget
from usage.templatetags.usage_tags import rounded_cost

DEFAULT_DAYS = 14
CSV_COLUMNS = (
    "date",
    "model",
    "messages",
    "failed",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "ttft_p50_ms",
    "ttft_p95_ms",
    "estimated_cost",
)
TIMES = ("ttft_p50", "ttft_p95")


@admin.register(GroupBudget)
class GroupBudgetAdmin(admin.ModelAdmin):
    list_display = ("group", "daily_tokens", "monthly_tokens")
    search_fields = ("group__name",)


@admin.register(UserBudget)
class UserBudgetAdmin(admin.ModelAdmin):
    list_display = ("user", "daily_tokens", "monthly_tokens")
    search_fields = ("user__username", "user__email")
    autocomplete_fields = ("user",)


class PeriodForm(forms.Form):
    start = forms.DateField(
        label=_("From (UTC day)"), widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(label=_("To (UTC day)"), widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                self.add_error("end", gettext("The period ends before it starts."))
            elif (end - start).days >= selectors.MAX_DAYS:
                self.add_error(
                    "end",
                    gettext("The period is longer than %(days)s days.")
                    % {"days": selectors.MAX_DAYS},
                )
        return data


@admin.register(UsageDashboard)
class UsageDashboardAdmin(admin.ModelAdmin):
    """A page, not a list: the period's figures as charts, tables and a CSV file."""

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("usage.view_usage")

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        view = self.admin_site.admin_view(self.dashboard_view)
        return [path("", view, name="usage_usagedashboard_changelist")]

    def dashboard_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        today = timezone.now().date()
        default = {"start": today - timedelta(days=DEFAULT_DAYS - 1), "end": today}
        form = PeriodForm(request.GET if "start" in request.GET else default)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Usage"),
            "opts": self.model._meta,
            "form": form,
        }
        if not form.is_valid():
            return TemplateResponse(request, "usage/admin_dashboard.html", context, status=400)
        period = selectors.Period(start=form.cleaned_data["start"], end=form.cleaned_data["end"])
        dashboard = selectors.dashboard(period=period)
        if request.GET.get("format") == "csv":
            return _csv_response(dashboard)
        query = {"start": period.start.isoformat(), "end": period.end.isoformat()}
        context.update(
            dashboard=dashboard,
            charts=charts.dashboard_charts(dashboard),
            csv_url="?" + urlencode({**query, "format": "csv"}),
        )
        return TemplateResponse(request, "usage/admin_dashboard.html", context)


def _csv_response(dashboard: selectors.Dashboard) -> HttpResponse:
    period = dashboard.period
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="usage-{period.start.isoformat()}-{period.end.isoformat()}.csv"'
    )
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for row in dashboard.rows:
        writer.writerow(
            [
                row["date"].isoformat(),
                row["model"],
                *(row[name] for name in CSV_COLUMNS[2:7]),
                *("" if row[name] is None else f"{row[name]:.1f}" for name in TIMES),
                "" if row["cost"] is None else rounded_cost(row["cost"]),
            ]
        )
    return response
