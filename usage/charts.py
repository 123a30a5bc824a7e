"""Bar charts as plain geometry for server-rendered SVG (no script, no inline style)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 8, 12, 28
MAX_X_LABELS = 10
SERIES_COLOURS = 8  # usage-series-0 to -7 in static/usage/usage.css


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int
    label: str


@dataclass(frozen=True)
class Tick:
    x: float
    y: float
    label: str


@dataclass(frozen=True)
class Chart:
    title: str
    bars: list[Bar]
    x_labels: list[Tick]
    y_ticks: list[Tick]
    legend: list[tuple[int, str]]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT

    @property
    def bars_svg(self) -> SafeString:
        """The bars as SVG ``rect`` elements with their labels (escaped), built in one pass:
        a template loop over them took most of the page's time for a long period."""
        # Safe: the numbers are formatted here and the labels escaped.
        return mark_safe(
            "".join(
                f'<rect class="usage-series-{bar.series}" x="{bar.x:.1f}" y="{bar.y:.1f}" '
                f'width="{bar.width:.1f}" height="{bar.height:.1f}">'
                f"<title>{escape(bar.label)}</title></rect>"
                for bar in self.bars
            )
        )


def _ceiling(value: float) -> float:
    """A round number at or above ``value`` for the top of the axis."""
    if value <= 0:
        return 1
    step = 10 ** (len(str(int(value))) - 1)
    for multiple in (1, 2, 2.5, 5, 10):
        if value <= multiple * step:
            return multiple * step
    return 10 * step


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def bar_chart(
    *,
    title: str,
    days: list[date],
    models: list[str],
    values: dict[tuple[date, str], float],
    stacked: bool = True,
    unit: str = "",
) -> Chart:
    """One slot per day, one colour per model; stacked (sums) or side by side (times)."""
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(days), 1)
    per_day = [[values.get((day, model)) or 0 for model in models] for day in days]
    highest = max((sum(v) if stacked else max(v, default=0) for v in per_day), default=0)
    top = _ceiling(highest)
    scale = plot_height / top
    bars = []
    for index, (day, amounts) in enumerate(zip(days, per_day, strict=True)):
        x = LEFT + index * slot + slot * 0.15
        width = slot * 0.7 if stacked else slot * 0.7 / max(len(models), 1)
        base = HEIGHT - BOTTOM
        for series, (model, amount) in enumerate(zip(models, amounts, strict=True)):
            if not amount:
                continue
            height = amount * scale
            y = base - height if stacked else HEIGHT - BOTTOM - height
            left = x if stacked else x + series * width
            label = f"{day.isoformat()} {model or '(none)'}: {_number(amount)}{unit}"
            bars.append(
                Bar(
                    round(left, 1),
                    round(y, 1),
                    round(width, 1),
                    round(height, 1),
                    series % SERIES_COLOURS,
                    label,
                )
            )
            if stacked:
                base = y
    every = max(1, -(-len(days) // MAX_X_LABELS))
    x_labels = [
        Tick(round(LEFT + (index + 0.5) * slot, 1), HEIGHT - 8, day.strftime("%m-%d"))
        for index, day in enumerate(days)
        if index % every == 0
    ]
    y_ticks = [
        Tick(LEFT - 6, round(HEIGHT - BOTTOM - fraction * plot_height, 1), _number(top * fraction))
        for fraction in (0, 0.5, 1)
    ]
    legend = [
        (series % SERIES_COLOURS, model or gettext("(none)")) for series, model in enumerate(models)
    ]
    return Chart(title=title, bars=bars, x_labels=x_labels, y_ticks=y_ticks, legend=legend)


def dashboard_charts(dashboard) -> list[Chart]:
    """The admin page's charts: messages, tokens, failed replies, times to first token."""
    days, models = dashboard.period.days, dashboard.models

    def series(name):
        return {(row["date"], row["model"]): name(row) for row in dashboard.rows}

    return [
        bar_chart(
            title=gettext("Replies per day"),
            days=days,
            models=models,
            values=series(lambda row: row["messages"]),
        ),
        bar_chart(
            title=gettext("Tokens per day (prompt + completion)"),
            days=days,
            models=models,
            values=series(lambda row: row["prompt_tokens"] + row["completion_tokens"]),
        ),
        bar_chart(
            title=gettext("Failed replies per day"),
            days=days,
            models=models,
            values=series(lambda row: row["failed"]),
        ),
        bar_chart(
            title=gettext("Time to first token, p50 (ms)"),
            days=days,
            models=models,
            values=series(lambda row: row["ttft_p50"]),
            stacked=False,
            unit=" ms",
        ),
        bar_chart(
            title=gettext("Time to first token, p95 (ms)"),
            days=days,
            models=models,
            values=series(lambda row: row["ttft_p95"]),
            stacked=False,
            unit=" ms",
        ),
    ]


@dataclass(frozen=True)
class Meter:
    """One horizontal bar: tokens spent by model against a limit (or against the total)."""

    label: str
    spent: int
    limit: int | None
    bars: list[Bar]
    width: int = WIDTH
    height: int = 28


def meter(*, label: str, parts: list[tuple[str, int]], limit: int | None) -> Meter:
    """Spent tokens by model, stacked left to right on a track as wide as ``limit``."""
    spent = sum(tokens for _, tokens in parts)
    scale = WIDTH / max(limit or 0, spent, 1)
    bars, x = [], 0.0
    for series, (model, tokens) in enumerate(parts):
        if tokens:
            width = min(tokens * scale, WIDTH - x)
            bars.append(
                Bar(
                    round(x, 1),
                    0,
                    round(width, 1),
                    28,
                    series % SERIES_COLOURS,
                    f"{model or '(none)'}: {tokens:,}",
                )
            )
            x += width
    return Meter(label=label, spent=spent, limit=limit, bars=bars)
