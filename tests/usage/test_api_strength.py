"""``usage.api`` asked directly and through one request, the cases mutation testing found
unchecked: the query's two fields and their formats, a period of one day, of exactly 366
days and of 367, the sentence of each refusal under ``to``, the period handed on, the rows of
the caller's own usage only (another user's on the same days and models beside it), and the
two query parameters as the schema states them (built when the module is imported, before
mutation testing picks a mutant, so the test builds them again)."""

from __future__ import annotations

from datetime import date

import pytest
from drf_spectacular.utils import OpenApiParameter

from tests.api.conftest import bearer_client
from tests.factories import UserFactory
from usage import api, rollup, selectors
from usage.models import DailyUsage

pytestmark = pytest.mark.django_db


def query(**data) -> api.UsageQuerySerializer:
    return api.UsageQuerySerializer(data=data)


def test_the_query_has_from_and_to_as_iso_days():
    fields = query().get_fields()

    assert list(fields) == ["from", "to"]
    for field in fields.values():
        assert type(field).__name__ == "DateField"
        assert field.input_formats == ["iso-8601"]
        assert field.required


@pytest.mark.parametrize(
    ("start", "end"),
    [("2026-03-01", "2026-03-01"), ("2026-03-01", "2026-03-02"), ("2026-01-01", "2027-01-01")],
)
def test_a_period_of_one_to_366_days_is_handed_on(start, end):
    serializer = query(**{"from": start, "to": end})

    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data == selectors.Period(
        start=date.fromisoformat(start), end=date.fromisoformat(end)
    )


@pytest.mark.parametrize(
    ("start", "end", "sentence"),
    [
        ("2026-03-02", "2026-03-01", "The period ends before it starts."),
        ("2026-01-01", "2027-01-02", "The period is longer than 366 days."),
        ("2026-01-01", "2028-01-01", "The period is longer than 366 days."),
    ],
)
def test_a_backwards_or_too_long_period_is_refused_under_to(start, end, sentence):
    serializer = query(**{"from": start, "to": end})

    assert not serializer.is_valid()
    assert serializer.errors == {"to": [sentence]}


@pytest.mark.parametrize("text", ["2026-03-01T00:00", "01/03/2026", "2026-3-1x"])
def test_only_an_iso_day_is_a_day(text):
    serializer = query(**{"from": "2026-03-01", "to": text})

    assert not serializer.is_valid()
    assert list(serializer.errors) == ["to"]


def test_each_day_parameter_is_a_required_query_date_as_described():
    parameter = api._day("from", "First UTC day.")

    assert isinstance(parameter, OpenApiParameter)
    assert parameter.name == "from"
    assert parameter.type == {"type": "string", "format": "date"}
    assert parameter.location == OpenApiParameter.QUERY == "query"
    assert parameter.required is True
    assert parameter.description == "First UTC day."


def test_the_rows_are_the_callers_own_per_day_and_model(user, other_user):
    def used(day: date, who, model: str, *sums: int) -> None:
        DailyUsage.objects.create(
            day=day, user=who, model=model, **dict(zip(rollup.USAGE_SUMS, sums, strict=True))
        )

    used(date(2026, 2, 28), user, "m", 1, 0, 1_000, 100, 0)
    used(date(2026, 3, 1), user, "m", 2, 1, 30, 3, 4)
    used(date(2026, 3, 1), user, "", 1, 0, 5, 1, 0)
    used(date(2026, 3, 1), other_user, "m", 9, 0, 9_000, 900, 90)
    used(date(2026, 3, 1), UserFactory(), "z", 9, 0, 9_000, 900, 90)
    used(date(2026, 3, 2), user, "n", 1, 0, 7, 2, 1)
    used(date(2026, 3, 3), user, "m", 1, 0, 1_000, 100, 0)
    response = bearer_client(user).get("/api/usage", {"from": "2026-03-01", "to": "2026-03-02"})

    assert response.status_code == 200
    assert response.json() == [
        {
            "date": "2026-03-01",
            "model": "",
            "messages": 1,
            "promptTokens": 5,
            "completionTokens": 1,
            "cachedTokens": 0,
        },
        {
            "date": "2026-03-01",
            "model": "m",
            "messages": 2,
            "promptTokens": 30,
            "completionTokens": 3,
            "cachedTokens": 4,
        },
        {
            "date": "2026-03-02",
            "model": "n",
            "messages": 1,
            "promptTokens": 7,
            "completionTokens": 2,
            "cachedTokens": 1,
        },
    ]
    theirs = bearer_client(other_user).get("/api/usage", {"from": "2026-03-01", "to": "2026-03-01"})
    assert theirs.json() == [
        {
            "date": "2026-03-01",
            "model": "m",
            "messages": 9,
            "promptTokens": 9_000,
            "completionTokens": 900,
            "cachedTokens": 90,
        }
    ]
