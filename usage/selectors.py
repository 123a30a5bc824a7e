"""Usage read from the replies (assistant messages): per UTC day and model, for one user or
for everyone, in a fixed number of aggregate queries whatever the period's length."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connections, router
from django.db.models import Aggregate, Count, F, FloatField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncDate

from catalogue.entries import Price
from catalogue.selectors import prices as catalogue_prices
from conversations.models import Message
from sharing.models import MessageFeedback

# The longest period one request may ask for, in days (both ends included).
MAX_DAYS = 366
TOP = 10
CHUNK = 5_000


@dataclass(frozen=True)
class Period:
    """UTC days from ``start`` to ``end``, both included."""

    start: date
    end: date

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    def filter(self, rows: QuerySet, *, field: str = "created_at") -> QuerySet:
        """``rows`` whose ``field`` (a moment) falls in the period."""
        rows = rows.filter(**{f"{field}__gte": datetime.combine(self.start, time.min, UTC)})
        if self.end < date.max:  # the day after date.max has no datetime
            next_day = self.end + timedelta(days=1)
            rows = rows.filter(**{f"{field}__lt": datetime.combine(next_day, time.min, UTC)})
        return rows


class UTCDay(TruncDate):
    """A moment's UTC day. SQLite stores moments as UTC text, which its own ``date()``
    reads; Django's cast calls a Python function per row (seconds over a million)."""

    def __init__(self, expression, **extra) -> None:
        super().__init__(expression, tzinfo=UTC, **extra)

    def as_sqlite(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.lhs)
        return f"date({sql})", params


def _sum(name: str):
    return Coalesce(Sum(name), Value(0))


def _total_tokens():
    return Coalesce(Sum(Coalesce("prompt_tokens", 0) + Coalesce("completion_tokens", 0)), 0)


def replies_in(period: Period, *, user=None) -> QuerySet[Message]:
    """Every reply started in ``period``, whatever its status; only ``user``'s if given."""
    replies = period.filter(Message.objects.filter(role=Message.Role.ASSISTANT))
    if user is not None:
        replies = replies.filter(session__user=user)
    return replies


def daily_usage(*, period: Period, user=None) -> list[dict]:
    """One row per UTC day and model with replies: ``date``, ``model``, ``messages``,
    ``failed``, ``prompt_tokens``, ``completion_tokens``, ``cached_tokens``; by date, model."""
    return list(
        replies_in(period, user=user)
        .annotate(date=UTCDay("created_at"))
        .values("date", "model")
        .annotate(
            messages=Count("pk"),
            failed=Count("pk", filter=Q(status=Message.Status.FAILED)),
            prompt_tokens=_sum("prompt_tokens"),
            completion_tokens=_sum("completion_tokens"),
            cached_tokens=_sum("cached_tokens"),
        )
        .order_by("date", "model")
    )


class PercentileCont(Aggregate):
    """PostgreSQL's ``percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)``."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, *, fraction: float, **extra) -> None:
        super().__init__(expression, fraction=float(fraction), **extra)


def percentile(ordered: list[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks, as PostgreSQL's percentile_cont."""
    position = fraction * (len(ordered) - 1)
    below, above = math.floor(position), math.ceil(position)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def first_token_percentiles(*, period: Period) -> dict[tuple[date, str], tuple[float, float]]:
    """``{(day, model): (p50, p95)}`` of the milliseconds to a reply's first token."""
    timed = (
        replies_in(period).filter(first_token_ms__isnull=False).annotate(date=UTCDay("created_at"))
    )
    if connections[router.db_for_read(Message)].vendor == "postgresql":
        rows = (
            timed.values("date", "model")
            .annotate(
                p50=PercentileCont("first_token_ms", fraction=0.5),
                p95=PercentileCont("first_token_ms", fraction=0.95),
            )
            .order_by()
        )
        return {(row["date"], row["model"]): (row["p50"], row["p95"]) for row in rows}
    # SQLite has no percentile function: the times come sorted, in the same one query.
    times: dict[tuple[date, str], list[float]] = defaultdict(list)
    for day, model, ms in timed.values_list("date", "model", "first_token_ms").order_by(
        "first_token_ms"
    ):
        times[(day, model)].append(ms)
    return {key: (percentile(ms, 0.5), percentile(ms, 0.95)) for key, ms in times.items()}


def top_users_and_groups(
    *, period: Period, prices: dict[str, Price], limit: int = TOP
) -> tuple[list[dict], list[dict]]:
    """The users, and the groups whose members, spent the most tokens (a member of two
    groups counts in both): ``username`` or ``name``, ``messages``, ``tokens``, ``cost``
    (of the models with a price) and ``unpriced`` (tokens of models without one).

    One pass over the period's replies, summed per user and model; their names and
    groups come in a second, small query per ``CHUNK`` users (two passes over a million
    replies took twice as long)."""
    spent: dict[int, dict] = defaultdict(_spending)
    for row in (
        replies_in(period)
        .values("model", user=F("session__user"))
        .annotate(
            messages=Count("pk"),
            prompt_tokens=_sum("prompt_tokens"),
            completion_tokens=_sum("completion_tokens"),
            cached_tokens=_sum("cached_tokens"),
        )
        .order_by()
    ):
        _add(spent[row["user"]], row, cost=_cost(row, prices))
    users: dict[str, dict] = {}
    groups: dict[str, dict] = defaultdict(_spending)
    for user_id, username, group in _names_and_groups(list(spent)):
        row = spent[user_id]
        users[username] = {"username": username, **row}
        if group is not None:
            _add(groups[group], row, cost=row["cost"])
    by_tokens = sorted(users.values(), key=lambda row: (-row["tokens"], row["username"]))
    by_group = sorted(
        ({"name": name, **sums} for name, sums in groups.items()),
        key=lambda row: (-row["tokens"], row["name"]),
    )
    return by_tokens[:limit], by_group[:limit]


def _spending() -> dict:
    return {"messages": 0, "tokens": 0, "cost": Decimal(0), "unpriced": 0}


def _add(sums: dict, row: dict, *, cost: Decimal | None) -> None:
    """Adds ``row``'s replies, tokens and cost to ``sums``; tokens without a price are
    counted in ``unpriced`` instead of the cost."""
    tokens = row["tokens"] if "tokens" in row else row["prompt_tokens"] + row["completion_tokens"]
    sums["messages"] += row["messages"]
    sums["tokens"] += tokens
    if cost is None:
        sums["unpriced"] += tokens
    else:
        sums["cost"] += cost
        sums["unpriced"] += row.get("unpriced", 0)


def _cost(row: dict, prices: dict[str, Price]) -> Decimal | None:
    """The exact estimated cost of ``row``'s token sums at its model's prices; None when
    the model has no price (or lacks one its tokens need)."""
    return prices.get(row["model"], Price()).cost(
        prompt_tokens=row["prompt_tokens"],
        cached_tokens=row["cached_tokens"],
        completion_tokens=row["completion_tokens"],
    )


def _names_and_groups(user_ids: list[int]):
    """``(id, username, group name or None)`` of each user, read in chunks that stay under
    the databases' limits on query parameters (one chunk up to ``CHUNK`` active users)."""
    users = get_user_model().objects.order_by()
    for start in range(0, len(user_ids), CHUNK):
        chunk = user_ids[start : start + CHUNK]
        yield from users.filter(pk__in=chunk).values_list("pk", "username", "groups__name")


def feedback_by_model(*, period: Period) -> list[dict]:
    """Thumbs up and down on the period's replies, per model: ``model``, ``up``, ``down``."""
    return list(
        # A join, not "in (the period's replies)": SQLite then reads the feedback, which
        # is far rarer than replies, instead of probing it once per reply.
        period.filter(
            MessageFeedback.objects.filter(message__role=Message.Role.ASSISTANT),
            field="message__created_at",
        )
        .values(model=F("message__model"))
        .annotate(
            up=Count("pk", filter=Q(rating=MessageFeedback.Rating.UP)),
            down=Count("pk", filter=Q(rating=MessageFeedback.Rating.DOWN)),
        )
        .order_by("model")
    )


@dataclass
class Dashboard:
    """Everything the admin's usage page shows for one period."""

    period: Period
    rows: list[dict]
    models: list[str]
    top_users: list[dict]
    top_groups: list[dict]
    feedback: list[dict]
    by_model: list[dict] = field(default_factory=list)
    totals: dict = field(default_factory=dict)


def dashboard(*, period: Period) -> Dashboard:
    """The period's figures for everyone: rows per day and model (with the p50 and p95
    times to first token and the estimated cost), the sums and cost per model, top users
    and groups, feedback; six queries (one reads the models' prices)."""
    rows = daily_usage(period=period)
    timings = first_token_percentiles(period=period)
    prices = catalogue_prices()
    for row in rows:
        row["ttft_p50"], row["ttft_p95"] = timings.get((row["date"], row["model"]), (None, None))
        row["cost"] = _cost(row, prices)
    names = ("messages", "failed", "prompt_tokens", "completion_tokens", "cached_tokens")
    by_model: dict[str, dict] = {}
    for row in rows:
        sums = by_model.setdefault(row["model"], {"model": row["model"], **dict.fromkeys(names, 0)})
        for name in names:
            sums[name] += row[name]
    for sums in by_model.values():
        sums["cost"] = _cost(sums, prices)
    priced = [sums for sums in by_model.values() if sums["cost"] is not None]
    top_users, top_groups = top_users_and_groups(period=period, prices=prices)
    return Dashboard(
        period=period,
        rows=rows,
        models=sorted(by_model),
        top_users=top_users,
        top_groups=top_groups,
        feedback=feedback_by_model(period=period),
        by_model=sorted(by_model.values(), key=lambda sums: sums["model"]),
        totals={
            **{name: sum(row[name] for row in rows) for name in names},
            "cost": sum((sums["cost"] for sums in priced), Decimal(0)),
            "unpriced_models": [s["model"] for s in by_model.values() if s["cost"] is None],
        },
    )


def tokens_by_model(*, user, today: date) -> list[dict]:
    """``user``'s tokens by model for ``today`` and for its calendar month (UTC):
    ``model``, ``today``, ``month``; one query."""
    month = Period(start=today.replace(day=1), end=today)
    spent = Coalesce("prompt_tokens", 0) + Coalesce("completion_tokens", 0)
    since_midnight = Q(created_at__gte=datetime.combine(today, time.min, UTC))
    return list(
        replies_in(month, user=user)
        .values("model")
        .annotate(
            today=Coalesce(Sum(spent, filter=since_midnight), 0),
            month=Coalesce(Sum(spent), 0),
        )
        .order_by("-month", "model")
    )
