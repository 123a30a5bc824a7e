"""The usage rollup: each reply, once it ends, is added to its UTC day's sums for its user
and model (``DailyUsage``) and to its model's histogram of times to first token
(``FirstTokenTimes``), so that the figures cost the same for ten replies or a million.

Ratings are copied with their reply's day and model (``ReplyRating``) on every save, and
deleted with the rating (or its conversation).

A reply counts once, when it ends (complete, failed or cancelled; regenerated or hidden
later, it still counts), on the UTC day it started. Deleting a conversation keeps its
usage: tokens spent stay spent, as the budgets count them.

Rows are added to with ``INSERT ... ON CONFLICT ... DO UPDATE SET n = n + excluded.n``, the
same SQL on SQLite and PostgreSQL: Django's upsert (``bulk_create(update_conflicts=True)``)
overwrites, and replies ending in parallel must add up.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date
from typing import Any, cast

from django.db import connections, router, transaction
from django.db.models import Model

from conversations.models import Message
from sharing.models import MessageFeedback
from usage.models import DailyUsage, FirstTokenTimes, ReplyRating

# Each bucket of times to first token is this much wider than the one before: a
# percentile read from them is within 5 % of the exact one.
RATIO = 1.05
_LOG_RATIO = math.log(RATIO)
USAGE_SUMS = ("messages", "failed", "prompt_tokens", "completion_tokens", "cached_tokens")


@dataclass(frozen=True)
class EndedReply:
    """What the rollup keeps of one reply that ended."""

    day: date
    user_id: int
    model: str
    failed: bool
    prompt_tokens: int | None
    completion_tokens: int | None
    cached_tokens: int | None
    first_token_ms: int | None


def bucket_of(ms: int) -> int:
    """The histogram bucket of a time to first token: bucket ``b`` holds the times from
    ``RATIO ** b`` up to ``RATIO ** (b + 1)`` ms; bucket 0 also 0 and 1 ms."""
    return math.floor(math.log(ms) / _LOG_RATIO) if ms > 1 else 0


def bucket_bounds(bucket: int) -> tuple[float, float]:
    """The lowest and the (excluded) highest time of a bucket, in ms."""
    return (0.0 if bucket == 0 else RATIO**bucket), RATIO ** (bucket + 1)


def record_reply(*, reply: Message, stored: Mapping[str, Any]) -> None:
    """Add a reply that just ended, with the ``stored`` fields (``finish_reply``'s), to the
    rollup; called inside the transaction that stores it, so both happen or neither."""
    record(
        [
            EndedReply(
                day=reply.created_at.astimezone(UTC).date(),
                user_id=reply.session.user_id,
                model=stored.get("model", reply.model),
                failed=stored["status"] == Message.Status.FAILED,
                prompt_tokens=stored["prompt_tokens"],
                completion_tokens=stored["completion_tokens"],
                cached_tokens=stored["cached_tokens"],
                first_token_ms=stored["first_token_ms"],
            )
        ]
    )


def record_swept(*, replies: Iterable[Message]) -> None:
    """Add replies just stored as failed because their writer died (with the session, as
    ``fail_stale_replies`` reads them) to the rollup, inside that transaction."""
    record(
        EndedReply(
            day=reply.created_at.astimezone(UTC).date(),
            user_id=reply.session.user_id,
            model=reply.model,
            failed=True,
            prompt_tokens=reply.prompt_tokens,
            completion_tokens=reply.completion_tokens,
            cached_tokens=reply.cached_tokens,
            first_token_ms=reply.first_token_ms,
        )
        for reply in replies
    )


def record(replies: Iterable[EndedReply]) -> None:
    """Add ``replies`` to the rollup: one statement per table, whatever their number, its
    rows in key order so that two transactions adding to the same rows never deadlock."""
    usage: dict[tuple, Counter] = {}
    times: Counter = Counter()
    for reply in replies:
        sums = usage.setdefault((reply.day, reply.user_id, reply.model), Counter())
        sums["messages"] += 1
        sums["failed"] += reply.failed
        sums["prompt_tokens"] += reply.prompt_tokens or 0
        sums["completion_tokens"] += reply.completion_tokens or 0
        sums["cached_tokens"] += reply.cached_tokens or 0
        if reply.first_token_ms is not None:
            times[(reply.day, reply.model, bucket_of(reply.first_token_ms))] += 1
    _add(
        DailyUsage,
        keys=("day", "user_id", "model"),
        sums=USAGE_SUMS,
        rows=[(*key, *(sums[name] for name in USAGE_SUMS)) for key, sums in sorted(usage.items())],
    )
    _add(
        FirstTokenTimes,
        keys=("day", "model", "bucket"),
        sums=("replies",),
        rows=[(*key, count) for key, count in sorted(times.items())],
    )


def rating_saved(*, instance: MessageFeedback, raw: bool = False, **kwargs) -> None:
    """Copy a rating just saved (``post_save``; not while loading fixtures, whose replies
    may not be there yet: ``rebuild`` then) for the dashboard."""
    if not raw:
        copy_ratings([instance])


def copy_ratings(ratings: Iterable[MessageFeedback]) -> None:
    """Create or refresh the dashboard's copies of ``ratings`` (with their replies)."""
    ReplyRating.objects.bulk_create(
        [
            ReplyRating(
                feedback_id=rating.pk,
                day=rating.message.created_at.astimezone(UTC).date(),
                model=rating.message.model,
                rating=rating.rating,
            )
            for rating in ratings
        ],
        update_conflicts=True,
        unique_fields=["feedback"],
        update_fields=["day", "model", "rating"],
    )


def _add(model: type[Model], *, keys: tuple[str, ...], sums: tuple[str, ...], rows: list) -> None:
    """Insert ``rows`` (key values, then sums) or add their sums to the rows already there."""
    if not rows:
        return
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    # Concrete fields (by attname, so ``user_id`` is the foreign key's) always have a column.
    concrete = {field.attname: field for field in model._meta.concrete_fields}
    fields = [concrete[name] for name in (*keys, *sums)]
    columns = [quote(cast(str, field.column)) for field in fields]
    key_columns = ", ".join(columns[: len(keys)])
    additions = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in columns[len(keys) :])
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({key_columns}) DO UPDATE SET {additions}"
    )
    prepared = [
        tuple(
            field.get_db_prep_value(value, connection)
            for field, value in zip(fields, row, strict=True)
        )
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, prepared)


@transaction.atomic
def rebuild() -> int:
    """Sum every reply that has ended into an empty rollup and copy every rating, in one
    transaction (after the upgrade that added them, or to start over): how many replies."""
    DailyUsage.objects.all().delete()
    FirstTokenTimes.objects.all().delete()
    ReplyRating.objects.all().delete()
    ended = (
        Message.objects.filter(role=Message.Role.ASSISTANT)
        .exclude(status=Message.Status.STREAMING)
        .values_list(
            "created_at",
            "session__user_id",
            "model",
            "status",
            "prompt_tokens",
            "completion_tokens",
            "cached_tokens",
            "first_token_ms",
        )
        .order_by()
    )
    batch: list[EndedReply] = []
    counted = 0
    for moment, user_id, model, status, prompt, completion, cached, first in ended.iterator(
        chunk_size=10_000
    ):
        batch.append(
            EndedReply(
                day=moment.astimezone(UTC).date(),
                user_id=user_id,
                model=model,
                failed=status == Message.Status.FAILED,
                prompt_tokens=prompt,
                completion_tokens=completion,
                cached_tokens=cached,
                first_token_ms=first,
            )
        )
        if len(batch) >= 50_000:
            record(batch)
            counted, batch = counted + len(batch), []
    record(batch)
    copy_ratings(
        MessageFeedback.objects.select_related("message").order_by().iterator(chunk_size=10_000)
    )
    return counted + len(batch)
