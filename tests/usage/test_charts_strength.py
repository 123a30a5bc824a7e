"""``usage.charts`` asked directly, the cases mutation testing found unchecked: each bar's
exact geometry worked by hand (stacked and side by side), the axis' round top at each of its
steps, how numbers are printed, which days get a label, the colours cycling after eight
models, the dashboard's five charts from its rows, and Settings' meters against a limit.

The plot is 656 x 180 (720 x 220 less the margins: 56 left, 8 right, 12 top, 28 bottom)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from usage import charts, selectors
from usage.charts import Bar, Tick

D1, D2 = date(2026, 3, 1), date(2026, 3, 2)
VALUES = {(D1, "a"): 30, (D1, "b"): 10, (D2, "b"): 5}


@pytest.mark.parametrize(
    ("value", "top"),
    [
        (-5, 1),
        (0, 1),
        (0.5, 1),
        (1, 1),
        (1.5, 2),
        (2, 2),
        (2.2, 2.5),
        (2.5, 2.5),
        (3, 5),
        (5, 5),
        (6, 10),
        (10, 10),
        (11, 20),
        (21, 25),
        (26, 50),
        (51, 100),
        (999, 1_000),
        (1_000, 1_000),
        (1_001, 2_000),
    ],
)
def test_the_axis_top_is_the_round_number_at_or_above_the_highest_value(value, top):
    assert charts._ceiling(value) == top


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        (0, "0"),
        (0.5, "0.5"),
        (3, "3"),
        (3.0, "3"),
        (9.96, "10.0"),
        (10, "10"),
        (10.5, "10"),
        (12.7, "13"),
        (1_234.0, "1,234"),
        (1_234_567, "1,234,567"),
    ],
)
def test_numbers_are_whole_from_ten_or_when_whole_else_to_one_decimal(value, printed):
    assert charts._number(value) == printed


def test_stacked_bars_sit_on_each_other_per_day():
    chart = charts.bar_chart(title="Replies", days=[D1, D2], models=["a", "b"], values=VALUES)

    # Highest day 40: top 50, 3.6 px a unit; slots of 328 px, bars 70 % wide from 15 %.
    assert chart.title == "Replies"
    assert chart.bars == [
        Bar(105.2, 84.0, 229.6, 108.0, 0, "2026-03-01 a: 30"),
        Bar(105.2, 48.0, 229.6, 36.0, 1, "2026-03-01 b: 10"),
        Bar(433.2, 174.0, 229.6, 18.0, 1, "2026-03-02 b: 5"),
    ]
    assert chart.x_labels == [Tick(220.0, 212, "03-01"), Tick(548.0, 212, "03-02")]
    assert chart.y_ticks == [Tick(50, 192.0, "0"), Tick(50, 102.0, "25"), Tick(50, 12.0, "50")]
    assert chart.legend == [(0, "a"), (1, "b")]
    assert (chart.width, chart.height, chart.left, chart.right_edge) == (720, 220, 56, 712)


def test_side_by_side_bars_share_their_days_slot():
    chart = charts.bar_chart(
        title="Times", days=[D1, D2], models=["a", "b"], values=VALUES, stacked=False, unit=" ms"
    )

    # Highest single value 30: top 50 all the same; each bar a half of the 70 %.
    assert chart.bars == [
        Bar(105.2, 84.0, 114.8, 108.0, 0, "2026-03-01 a: 30 ms"),
        Bar(220.0, 156.0, 114.8, 36.0, 1, "2026-03-01 b: 10 ms"),
        Bar(548.0, 174.0, 114.8, 18.0, 1, "2026-03-02 b: 5 ms"),
    ]
    assert chart.y_ticks == [Tick(50, 192.0, "0"), Tick(50, 102.0, "25"), Tick(50, 12.0, "50")]


def test_side_by_side_the_top_follows_the_highest_bar_not_the_days_sum():
    chart = charts.bar_chart(
        title="Times",
        days=[D1],
        models=["a", "b"],
        values={(D1, "a"): 8, (D1, "b"): 7},
        stacked=False,
    )

    assert [tick.label for tick in chart.y_ticks] == ["0", "5", "10"]
    assert chart.bars[0] == Bar(154.4, 48.0, 229.6, 144.0, 0, "2026-03-01 a: 8")


def test_stacked_the_top_follows_the_days_sum_not_its_highest_bar():
    chart = charts.bar_chart(
        title="Replies", days=[D1], models=["a", "b"], values={(D1, "a"): 8, (D1, "b"): 7}
    )

    assert [tick.label for tick in chart.y_ticks] == ["0", "10", "20"]
    assert [bar.y for bar in chart.bars] == [120.0, 57.0]


def test_times_of_days_without_a_model_have_an_axis_of_one():
    chart = charts.bar_chart(title="t", days=[D1, D2], models=[], values={}, stacked=False)

    assert chart.bars == []
    assert [tick.label for tick in chart.y_ticks] == ["0", "0.5", "1"]
    assert [tick.label for tick in chart.x_labels] == ["03-01", "03-02"]


def test_bars_are_placed_and_sized_to_a_tenth_of_a_pixel():
    chart = charts.bar_chart(
        title="t",
        days=[D1, D2, D2 + timedelta(days=1)],
        models=["a", "b"],
        values={(D1, "a"): 333, (D1, "b"): 1},
        stacked=False,
    )

    # Slots of 218.67 px, bars of 76.53; top 500, 0.36 px a unit.
    assert chart.bars == [
        Bar(88.8, 72.1, 76.5, 119.9, 0, "2026-03-01 a: 333"),
        Bar(165.3, 191.6, 76.5, 0.4, 1, "2026-03-01 b: 1"),
    ]


def test_one_model_side_by_side_fills_the_bar_width_alone():
    chart = charts.bar_chart(
        title="t", days=[D1], models=["a"], values={(D1, "a"): 100}, stacked=False
    )

    assert chart.bars == [Bar(154.4, 12.0, 459.2, 180.0, 0, "2026-03-01 a: 100")]


def test_an_empty_chart_has_an_axis_of_one_and_no_bar():
    chart = charts.bar_chart(title="Nothing", days=[], models=[], values={})

    assert (chart.bars, chart.x_labels, chart.legend) == ([], [], [])
    assert chart.y_ticks == [Tick(50, 192.0, "0"), Tick(50, 102.0, "0.5"), Tick(50, 12.0, "1")]


def test_a_day_without_replies_has_no_bar_and_none_is_not_zero_high():
    chart = charts.bar_chart(
        title="t", days=[D1], models=["a", ""], values={(D1, "a"): None, (D1, ""): 2.5}
    )

    assert chart.bars == [Bar(154.4, 12.0, 459.2, 180.0, 1, "2026-03-01 (none): 2.5")]
    assert chart.legend == [(0, "a"), (1, "(none)")]
    assert [tick.label for tick in chart.y_ticks] == ["0", "1.2", "2.5"]


@pytest.mark.parametrize(
    ("count", "labelled"),
    [(1, [0]), (10, list(range(10))), (11, [0, 2, 4, 6, 8, 10]), (25, list(range(0, 25, 3)))],
)
def test_at_most_ten_days_are_labelled_evenly(count, labelled):
    days = [D1 + timedelta(days=n) for n in range(count)]
    chart = charts.bar_chart(title="t", days=days, models=["a"], values={})

    slot = 656 / count
    assert chart.x_labels == [
        Tick(round(56 + (index + 0.5) * slot, 1), 212, days[index].strftime("%m-%d"))
        for index in labelled
    ]


def test_colours_cycle_after_eight_models():
    models = [f"m{n}" for n in range(10)]
    chart = charts.bar_chart(
        title="t", days=[D1], models=models, values={(D1, m): 1 for m in models}
    )

    assert chart.legend == [(n % 8, f"m{n}") for n in range(10)]
    assert [bar.series for bar in chart.bars] == [0, 1, 2, 3, 4, 5, 6, 7, 0, 1]


def test_bars_are_svg_with_their_labels_escaped():
    chart = charts.bar_chart(title="t", days=[D1], models=["<b>"], values={(D1, "<b>"): 1})

    assert chart.bars_svg == (
        '<rect class="usage-series-0" x="154.4" y="12.0" width="459.2" height="180.0">'
        "<title>2026-03-01 &lt;b&gt;: 1</title></rect>"
    )


def test_the_dashboards_five_charts_come_from_its_rows():
    rows = [
        {
            "date": D1,
            "model": "a",
            "messages": 4,
            "failed": 1,
            "prompt_tokens": 100,
            "completion_tokens": 20,
            "ttft_p50": 250.0,
            "ttft_p95": 400.0,
        },
        {
            "date": D2,
            "model": "b",
            "messages": 2,
            "failed": 0,
            "prompt_tokens": 7,
            "completion_tokens": 3,
            "ttft_p50": None,
            "ttft_p95": None,
        },
    ]
    dashboard = selectors.Dashboard(
        period=selectors.Period(start=D1, end=D2),
        rows=rows,
        models=["a", "b"],
        top_users=[],
        top_groups=[],
        feedback=[],
    )

    shown = charts.dashboard_charts(dashboard)

    assert [chart.title for chart in shown] == [
        "Replies per day",
        "Tokens per day (prompt + completion)",
        "Failed replies per day",
        "Time to first token, p50 (ms)",
        "Time to first token, p95 (ms)",
    ]
    assert [[bar.label for bar in chart.bars] for chart in shown] == [
        ["2026-03-01 a: 4", "2026-03-02 b: 2"],
        ["2026-03-01 a: 120", "2026-03-02 b: 10"],
        ["2026-03-01 a: 1"],
        ["2026-03-01 a: 250 ms"],
        ["2026-03-01 a: 400 ms"],
    ]
    # Stacked counts span the slot; times stand side by side, half of it each.
    assert [chart.bars[0].width for chart in shown] == [229.6, 229.6, 229.6, 114.8, 114.8]
    assert [chart.x_labels[1].label for chart in shown] == ["03-02"] * 5


def test_a_meter_stacks_each_models_tokens_against_the_limit():
    shown = charts.meter(label="Today", parts=[("a", 300), ("", 100), ("c", 0)], limit=1_000)

    # 720 px for 1,000 tokens.
    assert shown.label == "Today"
    assert (shown.spent, shown.limit, shown.width, shown.height) == (400, 1_000, 720, 28)
    assert shown.bars == [
        Bar(0.0, 0, 216.0, 28, 0, "a: 300"),
        Bar(216.0, 0, 72.0, 28, 1, "(none): 100"),
    ]


def test_a_meter_without_a_limit_or_past_it_spans_what_was_spent():
    unlimited = charts.meter(label="Month", parts=[("a", 1_200), ("b", 600)], limit=None)
    past = charts.meter(label="Today", parts=[("a", 900), ("b", 300)], limit=1_000)
    nothing = charts.meter(label="Today", parts=[], limit=None)
    one = charts.meter(label="Today", parts=[("a", 1)], limit=None)

    assert unlimited.bars == [
        Bar(0.0, 0, 480.0, 28, 0, "a: 1,200"),
        Bar(480.0, 0, 240.0, 28, 1, "b: 600"),
    ]
    assert past.bars == [Bar(0.0, 0, 540.0, 28, 0, "a: 900"), Bar(540.0, 0, 180.0, 28, 1, "b: 300")]
    assert (nothing.spent, nothing.limit, nothing.bars) == (0, None, [])
    assert one.bars == [Bar(0.0, 0, 720.0, 28, 0, "a: 1")]


def test_a_meters_colours_cycle_after_eight_models():
    shown = charts.meter(label="t", parts=[(f"m{n}", 1) for n in range(9)], limit=9)

    assert [bar.series for bar in shown.bars] == [0, 1, 2, 3, 4, 5, 6, 7, 0]
    assert [bar.x for bar in shown.bars] == [round(80.0 * n, 1) for n in range(9)]


def test_a_meters_bars_are_placed_to_a_tenth_of_a_pixel():
    shown = charts.meter(label="Today", parts=[("a", 1), ("b", 1), ("c", 1)], limit=7)

    # 720 / 7 = 102.857... px a token.
    assert [(bar.x, bar.width) for bar in shown.bars] == [
        (0.0, 102.9),
        (102.9, 102.9),
        (205.7, 102.9),
    ]
