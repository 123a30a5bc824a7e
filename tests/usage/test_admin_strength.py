"""The usage dashboard's admin (``usage.admin``) through one request each, the cases mutation
testing found unchecked: who sees it in the admin's index and with which permissions, the
default period of the last fourteen UTC days from a controlled clock, a period of exactly
366 days and one of 367, a one-day period, the reasons for a bad period under the field
they concern, the CSV link and file of the period asked for, and nobody's figures outside
that period."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from catalogue.models import Model, Provider
from tests.factories import UserFactory
from tests.usage.test_admin import staff_client
from usage import admin as usage_admin
from usage import charts, rollup
from usage.models import DailyUsage, FirstTokenTimes, UsageDashboard

pytestmark = pytest.mark.django_db

URL = "/admin/usage/usagedashboard/"


@pytest.fixture
def viewer() -> Client:
    return staff_client(allowed=True)


@pytest.fixture
def now(monkeypatch):
    """The dashboard opened on 15 March 2026 at 00:30 UTC."""
    monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 3, 15, 0, 30, tzinfo=UTC))


def used(day: date, model: str, *sums: int, user=None) -> None:
    DailyUsage.objects.create(
        day=day,
        user=user or UserFactory(),
        model=model,
        **dict(zip(rollup.USAGE_SUMS, sums, strict=True)),
    )


def test_the_index_lists_the_dashboard_to_viewers_only_and_only_to_view():
    shown = staff_client(allowed=True).get("/admin/")
    hidden = staff_client(allowed=False).get("/admin/")

    (usage,) = [app for app in shown.context["app_list"] if app["app_label"] == "usage"]
    (dashboard,) = [m for m in usage["models"] if m["object_name"] == "UsageDashboard"]
    assert dashboard["perms"] == {"add": False, "change": False, "delete": False, "view": True}
    assert dashboard["admin_url"] == URL
    assert f'href="{URL}"' in shown.content.decode()
    assert f'href="{URL}"' not in hidden.content.decode()
    assert not [app for app in hidden.context["app_list"] if app["app_label"] == "usage"]


def test_the_dashboards_admin_grants_viewing_only_with_the_permission(rf):
    model_admin = admin.site._registry[UsageDashboard]
    for allowed in (True, False):
        request = rf.get(URL)
        request.user = UserFactory(is_staff=True)
        if allowed:
            request.user.user_permissions.add(Permission.objects.get(codename="view_usage"))
        assert model_admin.has_view_permission(request) is allowed
        assert model_admin.has_module_permission(request) is allowed
        assert model_admin.has_add_permission(request) is False
        assert model_admin.has_change_permission(request) is False
        assert model_admin.has_delete_permission(request) is False


def test_staff_without_the_permission_is_refused_the_page_and_its_csv():
    client = staff_client(allowed=False)
    used(date(2026, 3, 1), "secret-model", 1, 0, 10, 1, 0)

    for query in ({}, {"start": "2026-03-01", "end": "2026-03-01", "format": "csv"}):
        response = client.get(URL, query)
        assert response.status_code == 403
        assert "secret-model" not in response.content.decode()


def test_without_a_period_the_last_fourteen_utc_days_are_shown(viewer, now):
    used(date(2026, 3, 1), "too-old", 1, 0, 10, 1, 0)
    used(date(2026, 3, 2), "first-day", 1, 0, 10, 1, 0)
    used(date(2026, 3, 15), "today", 1, 0, 10, 1, 0)

    response = viewer.get(URL)

    assert response.status_code == 200
    dashboard = response.context["dashboard"]
    assert (dashboard.period.start, dashboard.period.end) == (date(2026, 3, 2), date(2026, 3, 15))
    assert [row["model"] for row in dashboard.rows] == ["first-day", "today"]
    assert response.context["csv_url"] == "?start=2026-03-02&end=2026-03-15&format=csv"
    assert response.context["charts"] == charts.dashboard_charts(dashboard)
    assert response.context["opts"] is UsageDashboard._meta  # the breadcrumbs' app
    html = response.content.decode()
    assert "<title>Usage |" in html
    assert "2026-03-02 to 2026-03-15" in html
    assert 'value="2026-03-02"' in html and 'value="2026-03-15"' in html


def test_a_period_asked_for_is_shown_with_its_csv_link(viewer, now):
    used(date(2026, 2, 28), "before", 1, 0, 10, 1, 0)
    used(date(2026, 3, 1), "inside", 1, 0, 10, 1, 0)
    used(date(2026, 3, 2), "after", 1, 0, 10, 1, 0)

    response = viewer.get(URL, {"start": "2026-03-01", "end": "2026-03-01"})

    assert response.status_code == 200
    assert [row["model"] for row in response.context["dashboard"].rows] == ["inside"]
    assert response.context["csv_url"] == "?start=2026-03-01&end=2026-03-01&format=csv"
    assert 'href="?start=2026-03-01&amp;end=2026-03-01&amp;format=csv"' in (
        response.content.decode()
    )


@pytest.mark.parametrize(
    ("start", "end"), [("2026-01-01", "2027-01-01"), ("2026-03-01", "2026-03-01")]
)
def test_a_period_of_one_to_366_days_is_accepted(viewer, start, end):
    response = viewer.get(URL, {"start": start, "end": end})

    assert response.status_code == 200
    period = response.context["dashboard"].period
    assert (period.start.isoformat(), period.end.isoformat()) == (start, end)


@pytest.mark.parametrize(
    ("period", "errors"),
    [
        (
            {"start": "2026-03-02", "end": "2026-03-01"},
            {"end": ["The period ends before it starts."]},
        ),
        (
            {"start": "2026-01-01", "end": "2027-01-02"},
            {"end": ["The period is longer than 366 days."]},
        ),
        ({"start": "2026-02-30", "end": "2026-03-01"}, {"start": ["Enter a valid date."]}),
        ({"start": "2026-03-01", "end": "nope"}, {"end": ["Enter a valid date."]}),
        ({"start": "2026-03-01"}, {"end": ["This field is required."]}),
    ],
)
def test_a_bad_period_is_refused_under_the_field_it_concerns(viewer, period, errors):
    used(date(2026, 3, 1), "secret-model", 1, 0, 10, 1, 0)

    response = viewer.get(URL, {**period, "format": "csv"})

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert response.context["form"].errors == errors
    assert "dashboard" not in response.context
    assert "secret-model" not in response.content.decode()


def test_the_csv_is_the_periods_rows_with_times_and_blanks(viewer, now):
    used(date(2026, 2, 28), "before", 1, 0, 10, 1, 0)
    used(date(2026, 3, 1), "a", 2, 1, 10, 3, 4)
    used(date(2026, 3, 1), "", 1, 0, 5, 1, 0)
    used(date(2026, 3, 2), "a", 1, 0, 7, 2, 1)
    used(date(2026, 3, 3), "after", 1, 0, 10, 1, 0)
    FirstTokenTimes.objects.create(day=date(2026, 3, 1), model="a", bucket=0, replies=1)

    response = viewer.get(URL, {"start": "2026-03-01", "end": "2026-03-02", "format": "csv"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="usage-2026-03-01-2026-03-02.csv"'
    )
    assert response.content.decode().splitlines() == [
        ",".join(usage_admin.CSV_COLUMNS),
        "2026-03-01,,1,0,5,1,0,,,",
        "2026-03-01,a,2,1,10,3,4,0.5,0.5,",
        "2026-03-02,a,1,0,7,2,1,,,",
    ]
    assert usage_admin.CSV_COLUMNS[0] == "date"
    assert usage_admin.CSV_COLUMNS[-1] == "estimated_cost"


def test_the_csv_shows_times_to_one_decimal_and_costs_rounded_half_up(viewer):
    provider = Provider.objects.create(name="p", base_url="http://127.0.0.1:1/v1")
    Model.objects.create(
        id="priced",
        provider=provider,
        is_default=True,
        price_input=Decimal("0.5"),
        price_cached_input=Decimal("0.25"),
        price_output=Decimal(2),
    )
    used(date(2026, 3, 1), "priced", 1, 0, 1, 0, 0)  # 1 x 0.5 / 10**6: half up to 0.000001
    used(date(2026, 3, 2), "priced", 3, 1, 300, 20, 100)  # (200 x 0.5 + 100 x 0.25 + 40) / 10**6
    FirstTokenTimes.objects.create(day=date(2026, 3, 2), model="priced", bucket=100, replies=1)

    response = viewer.get(URL, {"start": "2026-03-01", "end": "2026-03-02", "format": "csv"})

    # Bucket 100 holds 1.05**100 to 1.05**101 ms: one reply is at its middle, 134.788... ms.
    assert response.content.decode().splitlines()[1:] == [
        "2026-03-01,priced,1,0,1,0,0,,,0.000001",
        "2026-03-02,priced,3,1,300,20,100,134.8,134.8,0.000165",
    ]
