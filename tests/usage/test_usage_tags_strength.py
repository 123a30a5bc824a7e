"""``usage.templatetags.usage_tags`` asked directly: a cost rounded half up to six decimals
(not half to even), a time to first token to one decimal or a dash, and the filters and
tags built on them (registered, so not mutated, but asserted here with them)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from usage.templatetags import usage_tags


@pytest.mark.parametrize(
    ("cost", "shown"),
    [
        (Decimal("0.0000005"), Decimal("0.000001")),  # half up, where half to even gives 0
        (Decimal("0.0000025"), Decimal("0.000003")),
        (Decimal("0.00000049"), Decimal("0.000000")),
        (Decimal("0.0002385"), Decimal("0.000239")),
        (Decimal("12.5"), Decimal("12.500000")),
        (Decimal(0), Decimal("0.000000")),
    ],
)
def test_a_cost_is_rounded_half_up_to_six_decimals(cost, shown):
    rounded = usage_tags.rounded_cost(cost)

    assert rounded == shown
    assert str(rounded) == str(shown)


def test_the_cost_filter_shows_the_rounded_cost_or_no_price():
    assert usage_tags.cost(Decimal("0.0000005")) == "0.000001"
    assert usage_tags.cost(None) == "no price"


@pytest.mark.parametrize(
    ("value", "shown"),
    [(None, "–"), (0.525, "0.5"), (1234.56, "1234.6"), (12.0, "12.0"), (0.04, "0.0")],
    # ASCII ids: mutmut names each test by its id and cannot find "\u2013" again.
    ids=["none", "half", "thousands", "whole", "small"],
)
def test_a_time_is_shown_to_one_decimal_or_as_a_dash(value, shown):
    assert usage_tags._milliseconds(value) == shown


def test_dashboard_rows_print_each_cell_in_order():
    rows = [
        {
            "date": date(2026, 3, 1),
            "model": "",
            "messages": 1200,
            "failed": 1,
            "prompt_tokens": 5,
            "completion_tokens": 6,
            "cached_tokens": 7,
            "ttft_p50": 0.525,
            "ttft_p95": None,
            "cost": Decimal("0.0000005"),
        }
    ]

    html = usage_tags.dashboard_rows(rows, "(none)")

    assert html == (
        "<tr><td>2026-03-01</td><td>(none)</td><td>1200</td><td>1</td><td>5</td><td>6</td>"
        "<td>7</td><td>0.5</td><td>–</td><td>0.000001</td></tr>"
    )
