"""Synthetic usage for measuring the dashboard: users in groups, conversations and replies
spread over days and models as real traffic is (a few heavy users, weekdays busier, a
main model, some failures and feedback), written in bulk.

Rows go in with ``executemany`` rather than ``bulk_create``, whose per-value preparation
takes minutes for a million rows; every column not set here gets its field's default,
prepared once."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import connections, router, transaction
from django.db.models import AutoField, Model

from conversations.models import ChatSession, Message, jump_depth
from sharing.models import MessageFeedback
from usage import rollup

# (model, share of replies, median ms to first token, ms per completion token)
MODELS = (
    ("gpt-4o-mini", 0.55, 350, 8),
    ("gpt-4o", 0.25, 600, 15),
    ("o3-mini", 0.12, 1800, 10),
    ("llama-3.1-70b", 0.08, 450, 12),
)
TURNS_PER_SESSION = 10
FEEDBACK_SHARE = 0.03
BATCH = 10_000


@dataclass(frozen=True)
class Seeded:
    """What one run wrote."""

    users: int
    groups: int
    sessions: int
    messages: int
    replies: int
    feedback: int
    first_day: date
    last_day: date


def _jump_on(line: list[uuid.UUID]) -> uuid.UUID | None:
    """The jump of the next message of a single branch (``line``, root first)."""
    depth = jump_depth(len(line))
    return None if depth is None else line[depth]


class _Table:
    """Rows of one model's table, written with ``executemany``."""

    def __init__(self, model: type[Model]) -> None:
        self.connection = connections[router.db_for_write(model)]
        # Integer keys are the database's to number.
        self.fields = [f for f in model._meta.concrete_fields if not isinstance(f, AutoField)]
        quote = self.connection.ops.quote_name
        columns = ", ".join(quote(field.column) for field in self.fields)
        marks = ", ".join(["%s"] * len(self.fields))
        self.sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({marks})"
        self.defaults = {
            field.attname: field.get_db_prep_save(field.get_default(), self.connection)
            for field in self.fields
        }
        self.native_uuid = self.connection.features.has_native_uuid_field
        self.rows: list[tuple] = []

    def add(self, **values) -> None:
        self.rows.append(
            tuple(
                self._prepare(values[field.attname])
                if field.attname in values
                else self.defaults[field.attname]
                for field in self.fields
            )
        )

    def _prepare(self, value):
        if isinstance(value, uuid.UUID) and not self.native_uuid:
            return value.hex
        if isinstance(value, datetime):
            return self.connection.ops.adapt_datetimefield_value(value)
        return value

    def write(self) -> int:
        with self.connection.cursor() as cursor:
            cursor.executemany(self.sql, self.rows)
        written, self.rows = len(self.rows), []
        return written


def seed_usage(
    *, messages: int, users: int, groups: int, days: int, last_day: date, seed: int = 1
) -> Seeded:
    """Write about ``messages`` messages (questions and their replies, in conversations of
    up to ``TURNS_PER_SESSION`` turns) by ``users`` new users in ``groups`` new groups,
    over the ``days`` UTC days ending with ``last_day``."""
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:8]
    people = _users(run=run, count=users, groups=groups, rng=rng)
    # A few heavy users, many light ones (Zipf-like), and quieter weekends.
    user_weights = [1 / (rank + 1) for rank in range(len(people))]
    first_day = last_day - timedelta(days=days - 1)
    all_days = [first_day + timedelta(days=n) for n in range(days)]
    day_weights = [1.0 if day.weekday() < 5 else 0.35 for day in all_days]
    model_weights = [share for _name, share, _first, _per_token in MODELS]
    sessions, replies, feedback = _Table(ChatSession), _Table(Message), _Table(MessageFeedback)
    ended: list[rollup.EndedReply] = []
    rated: list[uuid.UUID] = []
    counts = {"sessions": 0, "messages": 0, "feedback": 0}
    while counts["messages"] < messages:
        user_id = rng.choices(people, user_weights)[0]
        day = rng.choices(all_days, day_weights)[0]
        start = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
            seconds=rng.triangular(6 * 3600, 86_399, 14 * 3600)
        )
        model, _share, first_ms, per_token_ms = rng.choices(MODELS, model_weights)[0]
        turns = min(rng.randint(1, TURNS_PER_SESSION), max(1, (messages - counts["messages"]) // 2))
        session_id, parent_id, history, line = uuid.uuid4(), None, 0, []
        for turn in range(turns):
            moment = start + timedelta(seconds=40 * turn)
            question_id, reply_id = uuid.uuid4(), uuid.uuid4()
            asked = rng.randint(5, 300)
            history += asked
            replies.add(
                id=question_id,
                session_id=session_id,
                parent_id=parent_id,
                sequence=2 * turn,
                depth=len(line),
                jump_id=_jump_on(line),
                role=Message.Role.USER,
                content="seeded question",
                token_count=asked,
                created_at=moment,
                updated_at=moment,
            )
            line.append(question_id)
            spent = _spend(rng, history=history, first_ms=first_ms, per_token_ms=per_token_ms)
            replies.add(
                id=reply_id,
                session_id=session_id,
                parent_id=question_id,
                sequence=2 * turn + 1,
                depth=len(line),
                jump_id=_jump_on(line),
                role=Message.Role.ASSISTANT,
                content="seeded reply",
                model=model,
                created_at=moment,
                updated_at=moment,
                **spent,
            )
            ended.append(
                rollup.EndedReply(
                    # A conversation started before midnight may end after it.
                    day=moment.date(),
                    user_id=user_id,
                    model=model,
                    failed=spent["status"] == Message.Status.FAILED,
                    prompt_tokens=spent.get("prompt_tokens"),
                    completion_tokens=spent["completion_tokens"],
                    cached_tokens=spent.get("cached_tokens"),
                    first_token_ms=spent.get("first_token_ms"),
                )
            )
            history += spent["completion_tokens"] or 0
            parent_id = reply_id
            line.append(reply_id)
            if rng.random() < FEEDBACK_SHARE:
                rated.append(reply_id)
                feedback.add(
                    user_id=user_id,
                    message_id=reply_id,
                    rating=rng.choices(["up", "down"], [0.7, 0.3])[0],
                    created_at=moment,
                    updated_at=moment,
                )
        end = start + timedelta(seconds=40 * turns)
        sessions.add(
            id=session_id,
            user_id=user_id,
            title=f"Seeded conversation {run}",
            current_message_id=parent_id,
            created_at=start,
            updated_at=end,
        )
        counts["messages"] += 2 * turns
        if len(replies.rows) >= BATCH or counts["messages"] >= messages:
            with transaction.atomic(using=replies.connection.alias):
                counts["sessions"] += sessions.write()
                replies.write()
                counts["feedback"] += feedback.write()
                rollup.record(ended)
                rollup.copy_ratings(
                    MessageFeedback.objects.filter(message__in=rated).select_related("message")
                )
                ended, rated = [], []
    return Seeded(
        users=len(people),
        groups=groups,
        sessions=counts["sessions"],
        messages=counts["messages"],
        replies=counts["messages"] // 2,
        feedback=counts["feedback"],
        first_day=first_day,
        last_day=last_day,
    )


def _users(*, run: str, count: int, groups: int, rng: random.Random) -> list[int]:
    """New users (who cannot sign in) spread over new groups; their ids."""
    User = get_user_model()
    password = make_password(None)
    with transaction.atomic():
        Group.objects.bulk_create([Group(name=f"seed-{run}-team-{n}") for n in range(groups)])
        User.objects.bulk_create(
            [
                User(username=f"seed-{run}-{n}", email=f"seed-{run}-{n}@example.com")
                for n in range(count)
            ]
        )
        User.objects.filter(username__startswith=f"seed-{run}-").update(password=password)
        ids = list(
            User.objects.filter(username__startswith=f"seed-{run}-")
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        teams = list(
            Group.objects.filter(name__startswith=f"seed-{run}-team-").values_list("pk", flat=True)
        )
        if teams:
            Membership = User.groups.through
            Membership.objects.bulk_create(
                [Membership(user_id=user_id, group_id=rng.choice(teams)) for user_id in ids]
            )
    return ids


def _spend(rng: random.Random, *, history: int, first_ms: int, per_token_ms: int) -> dict:
    """A reply's status, tokens and times: most complete, a few failed or stopped."""
    outcome = rng.random()
    if outcome < 0.03:
        return {"status": Message.Status.FAILED, "completion_tokens": None}
    prompt = 200 + history
    completion = max(1, int(rng.lognormvariate(5.3, 0.7)))
    first = int(first_ms * rng.lognormvariate(0, 0.4))
    return {
        "status": Message.Status.CANCELLED if outcome < 0.05 else Message.Status.COMPLETE,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cached_tokens": int(prompt * rng.uniform(0.2, 0.8)) if history > 500 else 0,
        "token_count": completion,
        "first_token_ms": first,
        "total_ms": first + completion * per_token_ms,
    }
