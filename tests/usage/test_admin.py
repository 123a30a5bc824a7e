"""The usage dashboard in Django admin: who may see it, and that every figure on it (page
and CSV) is the sum of the stored replies of the period."""

from __future__ import annotations

import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from conversations.models import Message
from sharing.models import MessageFeedback
from tests.factories import ChatSessionFactory, UserFactory
from tests.usage.factories import reply
from usage import selectors

pytestmark = pytest.mark.django_db

URL = "/admin/usage/usagedashboard/"
PERIOD = {"start": "2026-03-01", "end": "2026-03-02"}


def staff_client(*, allowed: bool) -> Client:
    staff = UserFactory(is_staff=True)
    if allowed:
        staff.user_permissions.add(Permission.objects.get(codename="view_usage"))
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def viewer() -> Client:
    return staff_client(allowed=True)


@pytest.fixture
def replies():
    """Two users (one in two groups) with replies on 1 and 2 March 2026 and either side."""
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    team, admins = Group.objects.create(name="team"), Group.objects.create(name="admins")
    alice.groups.add(team, admins)
    bob.groups.add(team)
    mine, theirs = ChatSessionFactory(user=alice), ChatSessionFactory(user=bob)
    reply(mine, "2026-02-28 23:59:59", prompt_tokens=9_999)
    first = reply(
        mine,
        "2026-03-01 00:00",
        prompt_tokens=10,
        completion_tokens=1,
        cached_tokens=4,
        first_token_ms=100,
    )
    reply(mine, "2026-03-01 09:00", prompt_tokens=20, completion_tokens=2, first_token_ms=200)
    reply(theirs, "2026-03-01 10:00", prompt_tokens=30, completion_tokens=3, first_token_ms=300)
    reply(theirs, "2026-03-01 11:00", prompt_tokens=40, completion_tokens=4, first_token_ms=400)
    failed = reply(
        theirs,
        "2026-03-01 12:00",
        model="model-b",
        status=Message.Status.FAILED,
        prompt_tokens=None,
        completion_tokens=None,
        cached_tokens=None,
    )
    reply(
        theirs,
        "2026-03-02 23:59:59",
        model="model-b",
        prompt_tokens=500,
        completion_tokens=50,
        cached_tokens=100,
        first_token_ms=1_000,
    )
    reply(theirs, "2026-03-03 00:00", prompt_tokens=9_999)
    MessageFeedback.objects.create(user=alice, message=first, rating="up")
    MessageFeedback.objects.create(user=bob, message=first, rating="down")
    MessageFeedback.objects.create(user=bob, message=failed, rating="down")


def test_staff_without_view_usage_is_refused(replies):
    response = staff_client(allowed=False).get(URL, PERIOD)

    assert response.status_code == 403
    assert "alice" not in response.content.decode()


def test_a_signed_out_visitor_or_a_non_staff_user_is_sent_to_sign_in(replies):
    user = Client()
    user.force_login(UserFactory())
    for client in (Client(), user):
        response = client.get(URL, PERIOD)
        assert response.status_code == 302
        assert "/login/" in response["Location"]


def test_dashboard_shows_the_periods_sums_as_charts_and_tables(viewer, replies):
    response = viewer.get(URL, PERIOD)

    assert response.status_code == 200
    html = response.content.decode()
    assert response.context["dashboard"].rows == [
        {
            "date": date(2026, 3, 1),
            "model": "model-a",
            "messages": 4,
            "failed": 0,
            "prompt_tokens": 100,
            "completion_tokens": 10,
            "cached_tokens": 4,
            # Exactly 250 and 385, read from the 5 % buckets of the rollup's histogram.
            "ttft_p50": pytest.approx(250.0, rel=0.05),
            "ttft_p95": pytest.approx(385.0, rel=0.05),
            "cost": None,  # no catalogue rows: no prices
        },
        {
            "date": date(2026, 3, 1),
            "model": "model-b",
            "messages": 1,
            "failed": 1,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "cached_tokens": 0,
            "ttft_p50": None,
            "ttft_p95": None,
            "cost": None,
        },
        {
            "date": date(2026, 3, 2),
            "model": "model-b",
            "messages": 1,
            "failed": 0,
            "prompt_tokens": 500,
            "completion_tokens": 50,
            "cached_tokens": 100,
            "ttft_p50": pytest.approx(1000.0, rel=0.05),
            "ttft_p95": pytest.approx(1000.0, rel=0.05),
            "cost": None,
        },
    ]
    assert "6 replies (1 failed), 600 prompt tokens (104 cached), 60 completion tokens" in html
    assert html.count('class="usage-chart-svg"') == 5
    assert "<title>2026-03-01 model-a: 110</title>" in html  # the tokens bar
    assert "<title>2026-03-01 model-a: 379 ms</title>" in html  # the p95 bar (385 exactly)
    assert "usage/usage.css" in html
    assert "read from buckets 5 % wide: each is within 5 % of the exact figure" in html
    # Under the CSP: no inline style or script in the page's own part.
    main = html[html.index('id="content-main"') :]
    assert "style=" not in main and "<script" not in main
    dashboard = response.context["dashboard"]
    assert dashboard.top_users == [
        {"username": "bob", "messages": 4, "tokens": 627, "cost": 0, "unpriced": 627},
        {"username": "alice", "messages": 2, "tokens": 33, "cost": 0, "unpriced": 33},
    ]
    assert dashboard.top_groups == [
        {"name": "team", "messages": 6, "tokens": 660, "cost": 0, "unpriced": 660},
        {"name": "admins", "messages": 2, "tokens": 33, "cost": 0, "unpriced": 33},
    ]
    assert dashboard.feedback == [
        {"model": "model-a", "up": 1, "down": 1},
        {"model": "model-b", "up": 0, "down": 1},
    ]


def test_csv_has_every_row_of_the_period(viewer, replies):
    response = viewer.get(URL, {**PERIOD, "format": "csv"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="usage-2026-03-01-2026-03-02.csv"' in response["Content-Disposition"]
    assert response.content.decode().splitlines() == [
        "date,model,messages,failed,prompt_tokens,completion_tokens,cached_tokens,"
        "ttft_p50_ms,ttft_p95_ms,estimated_cost",
        # Times to first token read from 5 % buckets: 250, 385 and 1000 ms exactly.
        "2026-03-01,model-a,4,0,100,10,4,246.7,379.3,",
        "2026-03-01,model-b,1,1,0,0,0,,,",
        "2026-03-02,model-b,1,0,500,50,100,996.4,996.4,",
    ]


def test_dashboard_costs_the_same_queries_for_two_days_and_a_year(viewer, replies):
    viewer.get(URL, PERIOD)
    counts = []
    for query in (
        PERIOD,
        {"start": "2026-01-01", "end": "2026-12-31"},
        {**PERIOD, "format": "csv"},
    ):
        with CaptureQueriesContext(connection) as queries:
            assert viewer.get(URL, query).status_code == 200
        counts.append(len(queries))

    assert counts == [counts[0]] * 3


@pytest.mark.parametrize(
    ("period", "error"),
    [
        ({"start": "2026-03-02", "end": "2026-03-01"}, "The period ends before it starts."),
        ({"start": "2026-01-01", "end": "2027-01-02"}, "The period is longer than 366 days."),
        ({"start": "2026-02-30", "end": "2026-03-01"}, "Enter a valid date."),
    ],
)
def test_a_bad_period_is_refused_with_the_reason(viewer, period, error):
    response = viewer.get(URL, period)

    assert response.status_code == 400
    assert error in response.content.decode()


def test_dashboard_without_a_period_shows_the_last_two_weeks(viewer):
    response = viewer.get(URL)

    assert response.status_code == 200
    assert len(response.context["dashboard"].period.days) == 14


def test_days_are_cut_by_the_database_not_a_python_function_per_row(viewer, replies):
    # Django's SQLite date cast calls back into Python for every row: seconds on 1M rows.
    with CaptureQueriesContext(connection) as queries:
        assert viewer.get(URL, PERIOD).status_code == 200

    assert not [q["sql"] for q in queries.captured_queries if "django_datetime_" in q["sql"]]


def test_top_users_and_groups_read_in_chunks_are_the_same(viewer, replies, monkeypatch):
    whole = viewer.get(URL, PERIOD).context["dashboard"]
    monkeypatch.setattr(selectors, "CHUNK", 1)  # one user per query

    chunked = viewer.get(URL, PERIOD).context["dashboard"]

    assert (chunked.top_users, chunked.top_groups) == (whole.top_users, whole.top_groups)
    assert len(whole.top_users) == 2 and len(whole.top_groups) == 2


def test_a_model_name_is_escaped_in_the_charts(viewer):
    reply(ChatSessionFactory(), "2026-03-01 10:00", model="<b>m</b>", first_token_ms=100)

    html = viewer.get(URL, PERIOD).content.decode()

    assert "<title>2026-03-01 &lt;b&gt;m&lt;/b&gt;: 1</title>" in html
    assert "<b>m</b>" not in html


def test_the_rows_table_prints_counts_times_to_one_decimal_and_a_dash_for_none(viewer, replies):
    response = viewer.get(URL, PERIOD)

    html = response.content.decode()
    body = html[html.index('id="usage-rows"') :]
    body = body[body.index("<tbody>") : body.index("</tbody>")]
    cells = [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", body)]
    a, _b, c = response.context["dashboard"].rows
    assert cells == [
        ["2026-03-01", "model-a", "4", "0", "100", "10", "4", *times(a), "no price"],
        ["2026-03-01", "model-b", "1", "1", "0", "0", "0", "–", "–", "no price"],
        ["2026-03-02", "model-b", "1", "0", "500", "50", "100", *times(c), "no price"],
    ]


def times(row: dict) -> list[str]:
    """p50 and p95 rounded half up to one decimal."""
    return [
        str(Decimal(repr(row[name])).quantize(Decimal("0.1"), ROUND_HALF_UP))
        for name in ("ttft_p50", "ttft_p95")
    ]
