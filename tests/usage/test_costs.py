"""The estimated cost on the usage dashboard and in its CSV: the period's stored token sums
times each model's prices per million tokens, exact in Decimal and shown rounded half up
to six decimals; a model without a price is shown as such and left out of the totals."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalogue.file import load_models_file
from catalogue.models import Model, Provider
from conversations.models import Message
from tests.factories import ChatSessionFactory, UserFactory
from tests.usage.factories import reply
from tests.usage.test_admin import PERIOD, URL
from usage import selectors

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer():
    from tests.usage.test_admin import staff_client

    return staff_client(allowed=True)


@pytest.fixture
def priced(db):
    """model-a (0.15 / 0.075 / 0.60 per million) and model-b (2.50 / 1.25 / 10) with
    prices, model-c without; alice (team) and bob (team, ops) used them on 1 and 2 March."""
    provider = Provider.objects.create(name="p", base_url="http://127.0.0.1:1/v1")
    Model.objects.create(
        id="model-a",
        provider=provider,
        is_default=True,
        price_input=Decimal("0.15"),
        price_cached_input=Decimal("0.075"),
        price_output=Decimal("0.60"),
    )
    Model.objects.create(
        id="model-b",
        provider=provider,
        price_input=Decimal("2.50"),
        price_cached_input=Decimal("1.25"),
        price_output=Decimal("10"),
    )
    Model.objects.create(id="model-c", provider=provider)
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    team, ops = Group.objects.create(name="team"), Group.objects.create(name="ops")
    alice.groups.add(team)
    bob.groups.add(team, ops)
    mine, theirs = ChatSessionFactory(user=alice), ChatSessionFactory(user=bob)
    reply(mine, "2026-03-01 08:00", prompt_tokens=500, cached_tokens=400, completion_tokens=120)
    reply(mine, "2026-03-01 09:00", prompt_tokens=490, cached_tokens=0, completion_tokens=80)
    reply(mine, "2026-03-01 10:00", "model-b", prompt_tokens=3000, completion_tokens=500)
    reply(
        theirs,
        "2026-03-01 11:00",
        "model-b",
        status=Message.Status.FAILED,
        prompt_tokens=None,
        completion_tokens=None,
        cached_tokens=None,
    )
    reply(theirs, "2026-03-02 10:00", prompt_tokens=2000, cached_tokens=1000, completion_tokens=100)
    reply(theirs, "2026-03-02 11:00", "model-c", prompt_tokens=700, completion_tokens=70)
    reply(theirs, "2026-03-03 00:00", prompt_tokens=9_999)  # outside the period


# Worked by hand: (uncached × input + cached × cached input + completion × output) / 10⁶.
ALICE_A = Decimal("0.0002385")  # (590 × 0.15 + 400 × 0.075 + 200 × 0.60) / 10⁶
ALICE_B = Decimal("0.0125")  # (3000 × 2.50 + 500 × 10) / 10⁶
BOB_A = Decimal("0.000285")  # (1000 × 0.15 + 1000 × 0.075 + 100 × 0.60) / 10⁶


def test_costs_are_the_stored_token_sums_times_the_prices(viewer, priced):
    response = viewer.get(URL, PERIOD)

    assert response.status_code == 200
    dashboard = response.context["dashboard"]
    assert [(row["date"], row["model"], row["cost"]) for row in dashboard.rows] == [
        (date(2026, 3, 1), "model-a", ALICE_A),
        (date(2026, 3, 1), "model-b", ALICE_B),
        (date(2026, 3, 2), "model-a", BOB_A),
        (date(2026, 3, 2), "model-c", None),
    ]
    assert [(row["model"], row["cost"]) for row in dashboard.by_model] == [
        ("model-a", ALICE_A + BOB_A),
        ("model-b", ALICE_B),
        ("model-c", None),
    ]
    assert dashboard.totals["cost"] == ALICE_A + ALICE_B + BOB_A == Decimal("0.0130235")
    assert dashboard.totals["unpriced_models"] == ["model-c"]
    assert dashboard.top_users == [
        {
            "username": "alice",
            "messages": 3,
            "tokens": 4690,
            "cost": ALICE_A + ALICE_B,
            "unpriced": 0,
        },
        {"username": "bob", "messages": 3, "tokens": 2870, "cost": BOB_A, "unpriced": 770},
    ]
    assert dashboard.top_groups == [
        {
            "name": "team",
            "messages": 6,
            "tokens": 7560,
            "cost": ALICE_A + ALICE_B + BOB_A,
            "unpriced": 770,
        },
        {"name": "ops", "messages": 3, "tokens": 2870, "cost": BOB_A, "unpriced": 770},
    ]
    html = response.content.decode()
    # Rounded half up to six decimals: 0.0130235 shows 0.013024, 0.0127385 0.012739.
    assert "Estimated cost: 0.013024." in html
    assert "Left out, without a price: model-c." in html
    assert "<td>0.012739</td>" in html  # alice
    assert "<td>0.000285 (and 770 tokens without a price)</td>" in html  # bob and ops
    assert "<td>0.000524</td>" in html  # model-a's period


def test_a_model_without_a_price_shows_no_price(viewer, priced):
    html = viewer.get(URL, PERIOD).content.decode()

    models = html[html.index('id="usage-models"') :]
    models = models[: models.index("</table>")]
    assert "<td>model-c</td><td>1</td><td>700</td><td>0</td><td>70</td><td>no price</td>" in (
        models
    )


def test_csv_has_each_rows_cost_rounded_half_up_to_six_decimals(viewer, priced):
    response = viewer.get(URL, {**PERIOD, "format": "csv"})

    assert response.content.decode().splitlines() == [
        "date,model,messages,failed,prompt_tokens,completion_tokens,cached_tokens,"
        "ttft_p50_ms,ttft_p95_ms,estimated_cost",
        "2026-03-01,model-a,2,0,990,200,400,,,0.000239",  # 0.0002385: half up
        "2026-03-01,model-b,2,1,3000,500,0,,,0.012500",
        "2026-03-02,model-a,1,0,2000,100,1000,,,0.000285",
        "2026-03-02,model-c,1,0,700,70,0,,,",  # no price: empty
    ]


def test_a_missing_cached_price_leaves_cached_tokens_unpriced(viewer, priced):
    Model.objects.filter(pk="model-a").update(price_cached_input=None)

    dashboard = viewer.get(URL, PERIOD).context["dashboard"]

    # Both model-a rows have cached tokens; model-b's none, so its price is still whole.
    assert [row["cost"] for row in dashboard.rows] == [None, ALICE_B, None, None]
    assert dashboard.totals["cost"] == ALICE_B
    assert dashboard.totals["unpriced_models"] == ["model-a", "model-c"]


def test_prices_cost_one_query(priced):
    period = selectors.Period(start=date(2026, 3, 1), end=date(2026, 3, 2))
    with CaptureQueriesContext(connection) as queries:
        selectors.dashboard(period=period)

    # The day-and-model sums, the first-token times, the prices, the sums per user and
    # model, the users' names and groups, the feedback.
    assert len(queries) == 6
    assert sum("catalogue_model" in query["sql"] for query in queries.captured_queries) == 1


def test_prices_come_from_the_models_file_without_a_query(priced, settings, tmp_path):
    path = tmp_path / "models.toml"
    path.write_text(
        '[[providers]]\nname = "p"\nbase_url = "http://127.0.0.1:1/v1"\n'
        '[[models]]\nid = "model-a"\nprovider = "p"\ndefault = true\n'
        "price_input = 1\nprice_cached_input = 0.5\nprice_output = 2\n"
    )
    settings.CHATBOT_MODELS = load_models_file(
        str(path), default_context_tokens=16000, max_reply_tokens=1000
    )
    period = selectors.Period(start=date(2026, 3, 1), end=date(2026, 3, 2))
    with CaptureQueriesContext(connection) as queries:
        dashboard = selectors.dashboard(period=period)

    assert len(queries) == 5
    assert [(row["model"], row["cost"]) for row in dashboard.by_model] == [
        ("model-a", Decimal(2990 - 1400 + 700 + 600) / 10**6),  # file prices, not the rows'
        ("model-b", None),  # not in the file
        ("model-c", None),
    ]
