"""Every usage figure a person can read (the admin page's table, totals and charts, its
CSV, ``/api/usage``, Settings) equals the sum of the stored rows of its period, over data
spread across a month boundary, whatever the server's or the user's time zone: days and
months are UTC days and months, and the pages say so."""

from __future__ import annotations

import csv
import io
import math
import re
from collections import defaultdict
from datetime import UTC, date, datetime

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from conversations.models import Message
from sharing.models import MessageFeedback
from tests.api.conftest import bearer_client
from tests.factories import UserFactory
from usage.rollup import RATIO
from usage.seeding import seed_usage

pytestmark = pytest.mark.django_db

# Four UTC days around the end of January 2026; read on 2 February at 01:00 UTC.
START, END = date(2026, 1, 30), date(2026, 2, 2)
NOW = datetime(2026, 2, 2, 1, 0, tzinfo=UTC)
TIME_ZONES = ["UTC", "Pacific/Auckland", "America/Los_Angeles"]


@pytest.fixture(params=TIME_ZONES)
def server_time_zone(request, settings):
    settings.TIME_ZONE = request.param
    return request.param


@pytest.fixture
def seeded(monkeypatch):
    seed_usage(messages=1_200, users=6, groups=3, days=4, last_day=END, seed=20)
    monkeypatch.setattr(timezone, "now", lambda: NOW)


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def spent(reply: Message) -> int:
    return (reply.prompt_tokens or 0) + (reply.completion_tokens or 0)


def expected_rows(replies) -> dict[tuple[str, str], list[int]]:
    """``{(day, model): [messages, failed, prompt, completion, cached]}`` summed in Python."""
    rows: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * 5)
    for reply in replies:
        row = rows[(utc_day(reply.created_at).isoformat(), reply.model)]
        row[0] += 1
        row[1] += reply.status == Message.Status.FAILED
        row[2] += reply.prompt_tokens or 0
        row[3] += reply.completion_tokens or 0
        row[4] += reply.cached_tokens or 0
    return dict(rows)


def percentile(values: list[int], fraction: float) -> float:
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def within_a_bucket(shown: float, times: list[int], fraction: float) -> bool:
    """Whether a p50 or p95 read from the rollup's 5 % buckets (and printed to 0.1 ms) is
    within one bucket of the exact figure: 5 % of the larger time either side of its rank."""
    ordered = sorted(times)
    larger = ordered[math.ceil(fraction * (len(ordered) - 1))]
    return abs(shown - percentile(times, fraction)) <= (RATIO - 1) * larger + 0.05


def all_replies():
    return list(Message.objects.filter(role=Message.Role.ASSISTANT).select_related("session"))


def viewer() -> Client:
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_usage"))
    client = Client()
    client.force_login(staff)
    return client


def cells(html: str, table_id: str) -> list[list[str]]:
    body = html[html.index(f'id="{table_id}"') :]
    body = body[body.index("<tbody>") : body.index("</tbody>")]
    return [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", body)]


def test_the_data_crosses_a_month_boundary(seeded):
    days = {utc_day(reply.created_at) for reply in all_replies()}
    assert days == {date(2026, 1, 30), date(2026, 1, 31), date(2026, 2, 1), date(2026, 2, 2)}


@pytest.mark.parametrize(
    ("start", "end"), [(START, END), (START, date(2026, 1, 31)), (date(2026, 1, 31), END)]
)
def test_dashboard_table_totals_charts_and_csv_are_the_stored_sums(
    seeded, server_time_zone, start, end
):
    replies = [r for r in all_replies() if start <= utc_day(r.created_at) <= end]
    expected = expected_rows(replies)
    client = viewer()
    period = {"start": start.isoformat(), "end": end.isoformat()}

    html = client.get("/admin/usage/usagedashboard/", period).content.decode()
    table = {(row[0], row[1]): [int(v) for v in row[2:7]] for row in cells(html, "usage-rows")}
    exported = list(
        csv.reader(
            io.StringIO(
                client.get(
                    "/admin/usage/usagedashboard/", {**period, "format": "csv"}
                ).content.decode()
            )
        )
    )[1:]

    assert table == expected
    assert {(row[0], row[1]): [int(v) for v in row[2:7]] for row in exported} == expected
    totals = [sum(row[n] for row in expected.values()) for n in range(5)]
    assert (
        f"{totals[0]} replies ({totals[1]} failed), {totals[2]} prompt tokens "
        f"({totals[4]} cached), {totals[3]} completion tokens." in html
    )
    for (day, model), row in expected.items():
        assert f"<title>{day} {model}: {row[0]:,}</title>" in html
        assert f"<title>{day} {model}: {row[2] + row[3]:,}</title>" in html
    # Times to first token, p50 and p95 per day and model, from the histogram's buckets.
    times = defaultdict(list)
    for reply in replies:
        if reply.first_token_ms is not None:
            times[(utc_day(reply.created_at).isoformat(), reply.model)].append(reply.first_token_ms)
    for row in exported:
        ms = times[(row[0], row[1])]
        assert within_a_bucket(float(row[7]), ms, 0.5)
        assert within_a_bucket(float(row[8]), ms, 0.95)
    # Top users and groups by tokens, and feedback per model.
    by_user, by_group = defaultdict(int), defaultdict(int)
    for reply in replies:
        by_user[reply.session.user.username] += spent(reply)
        for group in reply.session.user.groups.all():
            by_group[group.name] += spent(reply)
    shown_users = {row[0]: int(row[2]) for row in cells(html, "usage-top-users")}
    shown_groups = {row[0]: int(row[2]) for row in cells(html, "usage-top-groups")}
    assert shown_users == by_user
    assert shown_groups == by_group
    feedback = defaultdict(lambda: [0, 0])
    for entry in MessageFeedback.objects.filter(message__in=[r.pk for r in replies]):
        feedback[entry.message.model][entry.rating == "down"] += 1
    shown = {row[0]: [int(row[1]), int(row[2])] for row in cells(html, "usage-feedback")}
    assert shown == feedback
    assert "Days are UTC days (00:00 to 24:00 UTC)" in html


def test_api_usage_is_the_callers_stored_sums_per_utc_day(seeded, server_time_zone):
    user = get_user_model().objects.filter(username__startswith="seed-").order_by("pk").first()
    mine = [r for r in all_replies() if r.session.user_id == user.pk]
    expected = expected_rows(mine)

    response = bearer_client(user).get(
        "/api/usage", {"from": START.isoformat(), "to": END.isoformat()}
    )

    assert response.status_code == 200
    shown = {
        (row["date"], row["model"]): [
            row["messages"],
            row["promptTokens"],
            row["completionTokens"],
            row["cachedTokens"],
        ]
        for row in response.json()
    }
    assert shown == {key: [v[0], v[2], v[3], v[4]] for key, v in expected.items()}


def test_settings_counts_today_and_this_month_by_utc_day_and_month(seeded, server_time_zone):
    user = get_user_model().objects.filter(username__startswith="seed-").order_by("pk").first()
    mine = [r for r in all_replies() if r.session.user_id == user.pk]
    # 2 February 01:00 UTC: 14:00 in Auckland, still 1 February in Los Angeles; the
    # figures are the UTC day's and month's all the same.
    today = sum(spent(r) for r in mine if utc_day(r.created_at) == NOW.date())
    month = sum(spent(r) for r in mine if utc_day(r.created_at) >= date(2026, 2, 1))
    assert 0 < today < month
    assert sum(spent(r) for r in mine if utc_day(r.created_at) < date(2026, 2, 1)) > 0
    client = Client()
    client.force_login(user)

    html = client.get("/settings/").content.decode()

    assert f"Today: {today} tokens" in html
    assert f"This month: {month} tokens" in html
    assert "Days and months are UTC." in html
