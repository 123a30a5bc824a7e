"""Usage per UTC day and model, for one user or for everyone, read from the rollup that
each reply is added to as it ends (``usage.rollup``): a fixed number of aggregate queries
over at most a row per day, user and model, whatever the number of replies."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import Count, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from catalogue.entries import Price
from catalogue.selectors import prices as catalogue_prices
from sharing.models import MessageFeedback
from usage import rollup
from usage.models import DailyUsage, FirstTokenTimes, ReplyRating

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


def _sum(name: str):
    return Coalesce(Sum(name), Value(0))


def usage_in(period: Period, *, user=None) -> QuerySet[DailyUsage]:
    """The rollup's rows of the days of ``period``; only ``user``'s if given."""
    rows = DailyUsage.objects.filter(day__gte=period.start, day__lte=period.end)
    if user is not None:
        rows = rows.filter(user=user)
    return rows


def daily_usage(*, period: Period, user=None) -> list[dict]:
    """One row per UTC day and model with replies: ``date``, ``model``, ``messages``,
    ``failed``, ``prompt_tokens``, ``completion_tokens``, ``cached_tokens``; by date, model."""
    return list(
        usage_in(period, user=user)
        .values("model", date=F("day"))
        .annotate(**{name: _sum(name) for name in rollup.USAGE_SUMS})
        .order_by("date", "model")
    )


def histogram_percentile(counts: list[tuple[int, int]], fraction: float) -> float:
    """The ``fraction`` percentile (interpolated between the closest ranks, as PostgreSQL's
    ``percentile_cont``) of the times counted in ``(bucket, replies)`` pairs, the buckets
    ascending: each bucket's times are taken as spread evenly across it, so the figure is
    within one bucket (5 %) of the exact one."""
    position = fraction * (sum(replies for _bucket, replies in counts) - 1)
    below, above = math.floor(position), math.ceil(position)
    low, high = _nth_time(counts, below), _nth_time(counts, above)
    return low + (high - low) * (position - below)


def _nth_time(counts: list[tuple[int, int]], rank: int) -> float:
    """The estimated time of the ``rank``-th fastest (from 0) of the counted replies."""
    before = 0
    for bucket, replies in counts:
        if rank < before + replies:
            lowest, highest = rollup.bucket_bounds(bucket)
            return lowest + (highest - lowest) * (rank - before + 0.5) / replies
        before += replies
    raise ValueError(f"rank {rank} of {before} replies")


def first_token_percentiles(*, period: Period) -> dict[tuple[date, str], tuple[float, float]]:
    """``{(day, model): (p50, p95)}`` of the milliseconds to a reply's first token, read
    from the rollup's histogram (``histogram_percentile``).

    A 90-day period has some 17,000 buckets, so they are read lean: unordered (an ORDER
    BY on the day, the model's name and the bucket cost PostgreSQL a sort of them all),
    each day and model's few dozen sorted here, and through the cursor, the day converted
    once per day and model rather than by the ORM once per row."""
    rows = (
        FirstTokenTimes.objects.filter(day__gte=period.start, day__lte=period.end)
        .values_list("day", "model", "bucket", "replies")
        .order_by()
    )
    sql, params = rows.query.get_compiler(using=rows.db).as_sql()
    counts: dict[tuple[object, str], list[tuple[int, int]]] = defaultdict(list)
    with connections[rows.db].cursor() as cursor:
        cursor.execute(sql, params)
        for day, model, bucket, replies in cursor.fetchall():
            counts[(day, model)].append((bucket, replies))
    # The day as the database gives it: a date, or text on SQLite.
    as_date = FirstTokenTimes._meta.get_field("day").to_python
    percentiles = {}
    for (day, model), buckets in counts.items():
        buckets.sort()
        percentiles[(as_date(day), model)] = (
            histogram_percentile(buckets, 0.5),
            histogram_percentile(buckets, 0.95),
        )
    return percentiles


def top_users_and_groups(
    *, period: Period, prices: dict[str, Price], limit: int = TOP
) -> tuple[list[dict], list[dict]]:
    """The users, and the groups whose members, spent the most tokens (a member of two
    groups counts in both): ``username`` or ``name``, ``messages``, ``tokens``, ``cost``
    (of the models with a price) and ``unpriced`` (tokens of models without one).

    One pass over the period's rollup, summed per user and model; their names and groups
    come in a second, small query per ``CHUNK`` users."""
    spent: dict[int, dict] = defaultdict(_spending)
    for row in (
        usage_in(period)
        .values("model", "user")
        .annotate(**{name: _sum(name) for name in rollup.USAGE_SUMS if name != "failed"})
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
        ReplyRating.objects.filter(day__gte=period.start, day__lte=period.end)
        .values("model")
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
    names = rollup.USAGE_SUMS
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
    spent = F("prompt_tokens") + F("completion_tokens")
    return list(
        usage_in(month, user=user)
        .values("model")
        .annotate(
            today=Coalesce(Sum(spent, filter=Q(day=today)), 0),
            month=Coalesce(Sum(spent), 0),
        )
        .order_by("-month", "model")
    )
