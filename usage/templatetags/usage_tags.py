"""The Usage section of Settings, filled in by the template that includes it."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django import template
from django.template.defaultfilters import floatformat
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext

from usage import budgets, charts, selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def settings_usage(context) -> dict:
    """The signed-in user's tokens today and this month by model, against their budgets."""
    user = context["request"].user
    rows = selectors.tokens_by_model(user=user, today=timezone.now().date())
    daily = budgets.daily_budget_for(user)
    monthly = budgets.monthly_budget_for(user)
    models = [row["model"] for row in rows]
    return {
        "rows": rows,
        "legend": [
            (index % charts.SERIES_COLOURS, model or gettext("(none)"))
            for index, model in enumerate(models)
        ],
        "meters": [
            charts.meter(
                label=gettext("Today"),
                parts=[(row["model"], row["today"]) for row in rows],
                limit=daily or None,
            ),
            charts.meter(
                label=gettext("This month"),
                parts=[(row["model"], row["month"]) for row in rows],
                limit=monthly,
            ),
        ],
    }


COST_PLACES = Decimal("0.000001")


def rounded_cost(cost: Decimal) -> Decimal:
    """A cost as the dashboard and its CSV show it: rounded half up to six decimals."""
    return cost.quantize(COST_PLACES, rounding=ROUND_HALF_UP)


@register.filter
def cost(value: Decimal | None) -> str:
    """An estimated cost, or "no price" for a model without one."""
    return gettext("no price") if value is None else str(rounded_cost(value))


@register.simple_tag
def dashboard_rows(rows: list[dict], none_label: str) -> SafeString:
    """The dashboard's table rows per day and model, built in one pass like the charts'
    bars: a template loop over a 90-day period's 360 rows of ten cells took a quarter of
    the page's time. Numbers print as the template printed them (no thousands separator,
    ``floatformat:1`` for the times, "–" for none)."""
    return format_html_join(
        "\n",
        "<tr>" + "<td>{}</td>" * 10 + "</tr>",
        (
            (
                row["date"].isoformat(),
                row["model"] or none_label,
                *(str(row[name]) for name in _COUNTED),
                *(_milliseconds(row[name]) for name in ("ttft_p50", "ttft_p95")),
                cost(row["cost"]),
            )
            for row in rows
        ),
    )


_COUNTED = ("messages", "failed", "prompt_tokens", "completion_tokens", "cached_tokens")


def _milliseconds(value: float | None) -> str:
    return "–" if value is None else floatformat(value, 1)
