"""The usage rollup: each reply is added once, as it ends, through the send path; replies
ending in parallel add up; a rebuild from the stored replies gives the same sums; the
times to first token read from its buckets are within one bucket of the exact ones."""

from __future__ import annotations

import math
import random
import threading
from collections import Counter
from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations import moderation
from conversations import services as conversation_services
from conversations.models import Message
from conversations.reply_storage import fail_stale_replies, finish_reply
from loopback.upstream import Behaviour
from sharing import services as sharing_services
from sharing.models import MessageFeedback
from tests.factories import ChatSessionFactory, MessageFactory, UserFactory
from tests.usage.factories import at, reply
from usage import rollup, selectors
from usage.models import DailyUsage, FirstTokenTimes, ReplyRating
from usage.seeding import seed_usage


def usage_rows() -> dict[tuple, tuple]:
    return {
        (row.day, row.user_id, row.model): (
            row.messages,
            row.failed,
            row.prompt_tokens,
            row.completion_tokens,
            row.cached_tokens,
        )
        for row in DailyUsage.objects.all()
    }


def histogram() -> dict[tuple, int]:
    return {(r.day, r.model, r.bucket): r.replies for r in FirstTokenTimes.objects.all()}


def ratings() -> dict[int, tuple]:
    return {r.feedback_id: (r.day, r.model, r.rating) for r in ReplyRating.objects.all()}


def exact_percentile(ordered: list[int], fraction: float) -> float:
    position = fraction * (len(ordered) - 1)
    below, above = math.floor(position), math.ceil(position)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def test_every_time_falls_in_its_bucket():
    for ms in [0, 1, 2, 3, *range(4, 700_000, 97)]:
        lowest, highest = rollup.bucket_bounds(rollup.bucket_of(ms))
        assert lowest <= ms < highest
        assert highest - lowest <= max((rollup.RATIO - 1) * ms, 1.05)


@pytest.mark.parametrize("count", [1, 2, 3, 7, 20, 333, 5_000])
@pytest.mark.parametrize("fraction", [0.5, 0.95])
def test_a_percentile_read_from_buckets_is_within_one_bucket_of_the_exact_one(count, fraction):
    rng = random.Random(count)
    times = sorted(int(rng.lognormvariate(6, 1.2)) for _ in range(count))
    buckets = sorted(Counter(rollup.bucket_of(ms) for ms in times).items())

    shown = selectors.histogram_percentile(buckets, fraction)

    exact = exact_percentile(times, fraction)
    larger = times[math.ceil(fraction * (count - 1))]
    assert abs(shown - exact) <= max((rollup.RATIO - 1) * larger, 1.05)


@pytest.mark.django_db
def test_the_dashboards_percentiles_equal_the_reference_for_random_histograms():
    rng = random.Random(20)
    histograms = {
        (date(2026, 3, day), model): Counter(
            {rng.randrange(0, 300): rng.choice([1, 1, 2, 7, 500]) for _ in range(size)}
        )
        for day, model, size in [(1, "a", 1), (1, "b", 2), (2, "a", 40), (3, "a", 120)]
        + [(4 + n, f"m-{n}", rng.randint(1, 80)) for n in range(12)]
    }
    rows = [
        FirstTokenTimes(day=day, model=model, bucket=bucket, replies=replies)
        for (day, model), counts in histograms.items()
        for bucket, replies in counts.items()
    ]
    # Stored out of order: the dashboard must not depend on the order rows come back in.
    rng.shuffle(rows)
    FirstTokenTimes.objects.bulk_create(rows)

    shown = selectors.first_token_percentiles(
        period=selectors.Period(start=date(2026, 3, 1), end=date(2026, 3, 31))
    )

    assert shown == {
        key: tuple(
            selectors.histogram_percentile(sorted(counts.items()), fraction)
            for fraction in (0.5, 0.95)
        )
        for key, counts in histograms.items()
    }


@pytest.mark.django_db(transaction=True)
def test_a_reply_sent_through_the_api_counts_once_with_its_stored_figures(api, user, upstream):
    upstream.push(Behaviour(tokens=4, cached_tokens=7, first_token_delay=0.05))

    response = api.post("/api/chat", {"message": "hello"}, content_type="application/json")

    assert response.status_code == 200, response.content
    reply = Message.objects.get(pk=response.json()["messageId"])
    day = reply.created_at.date()
    assert usage_rows() == {
        (day, user.pk, reply.model): (
            1,
            0,
            reply.prompt_tokens,
            reply.completion_tokens,
            reply.cached_tokens,
        )
    }
    assert histogram() == {(day, reply.model, rollup.bucket_of(reply.first_token_ms)): 1}


@pytest.mark.django_db(transaction=True)
def test_failed_regenerated_hidden_and_deleted_replies_keep_counting(api, user, upstream):
    upstream.push(Behaviour(status=503), Behaviour(status=503))
    failed = api.post("/api/chat", {"message": "hello"}, content_type="application/json")
    assert failed.status_code == 503
    session_id = failed.json()["sessionId"]
    upstream.push(Behaviour(tokens=3))
    again = api.post(
        f"/api/chat/sessions/{session_id}/regenerate", {}, content_type="application/json"
    )
    assert again.status_code == 200, again.content
    replies = list(Message.objects.filter(role=Message.Role.ASSISTANT))
    assert {reply.status for reply in replies} == {"failed", "complete"}
    moderation.hide_messages(moderator=UserFactory(is_staff=True), messages=replies)
    counted = usage_rows()

    assert api.delete(f"/api/chat/sessions/{session_id}").status_code == 200

    assert not Message.objects.exists()
    # Tokens spent stay spent: the rollup is not the conversation's.
    assert usage_rows() == counted
    ((messages, failures, prompt, completion, _cached),) = counted.values()
    assert (messages, failures) == (2, 1)
    assert prompt == sum(reply.prompt_tokens or 0 for reply in replies) > 0
    assert completion == sum(reply.completion_tokens or 0 for reply in replies) == 3


@pytest.mark.django_db
def test_a_reply_of_a_deleted_conversation_ending_counts_nothing():
    reply = MessageFactory(role=Message.Role.ASSISTANT, status=Message.Status.STREAMING)
    reply.session.delete()

    stored = finish_reply(reply=reply, content="late", status="complete", prompt_tokens=5)

    assert stored is None
    assert not DailyUsage.objects.exists()


def test_a_reply_whose_writer_died_counts_once_as_failed_when_swept(api, user, settings):
    started = MessageFactory(
        session=ChatSessionFactory(user=user),
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        model="m",
        created_at=at("2026-03-01 10:00"),
    )
    long_ago = timezone.now() - timedelta(seconds=settings.CHATBOT_STREAM_STALE_AFTER + 1)
    Message.objects.filter(pk=started.pk).update(updated_at=long_ago)

    assert fail_stale_replies(session_id=started.session_id) == 1
    assert fail_stale_replies() == 0
    # Its writer was only slow: ending it now stores it but does not count it again.
    late = finish_reply(reply=started, content="late", status="complete", prompt_tokens=5)

    assert late is not None
    figures = {"from": "2026-03-01", "to": "2026-03-01"}
    assert api.get("/api/usage", figures).json() == [
        {
            "date": "2026-03-01",
            "model": "m",
            "messages": 1,
            "promptTokens": 0,
            "completionTokens": 0,
            "cachedTokens": 0,
        }
    ]
    day = date(2026, 3, 1)
    shown = selectors.dashboard(period=selectors.Period(start=day, end=day))
    assert [(row["model"], row["messages"], row["failed"]) for row in shown.rows] == [("m", 1, 1)]
    assert usage_rows() == {(day, user.pk, "m"): (1, 1, 0, 0, 0)}


@pytest.mark.django_db(transaction=True)
def test_replies_ending_in_parallel_add_up():
    session = ChatSessionFactory()
    threads, per_thread = 6, 15
    replies = [
        MessageFactory(session=session, role=Message.Role.ASSISTANT, model="m", status="streaming")
        for _ in range(threads * per_thread)
    ]
    start = threading.Barrier(threads)

    def finish(mine: list[Message]) -> None:
        start.wait()
        try:
            for reply in mine:
                finish_reply(
                    reply=reply,
                    content="done",
                    status="complete",
                    model="m",
                    prompt_tokens=10,
                    completion_tokens=1,
                    first_token_ms=300,
                )
        finally:
            connection.close()

    workers = [threading.Thread(target=finish, args=(replies[n::threads],)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    total = threads * per_thread
    day = replies[0].created_at.date()
    assert usage_rows() == {(day, session.user_id, "m"): (total, 0, 10 * total, total, 0)}
    assert histogram() == {(day, "m", rollup.bucket_of(300)): total}


@pytest.mark.django_db
def test_rebuilding_from_the_stored_replies_gives_the_same_rollup():
    seed_usage(messages=600, users=5, groups=2, days=3, last_day=date(2026, 3, 1), seed=3)
    MessageFactory(role=Message.Role.ASSISTANT, status=Message.Status.STREAMING, model="m")
    recorded, times, rated = usage_rows(), histogram(), ratings()
    assert len(rated) == MessageFeedback.objects.count() > 0
    assert sum(row[0] for row in recorded.values()) == 300

    with transaction.atomic():
        call_command("rebuild_usage", stdout=StringIO())

    # The reply still streaming counts once it ends, not before.
    assert usage_rows() == recorded
    assert histogram() == times
    assert ratings() == rated


@pytest.mark.django_db
def test_ending_a_reply_adds_it_with_one_statement_per_table():
    reply = MessageFactory(role=Message.Role.ASSISTANT, status=Message.Status.STREAMING)
    with CaptureQueriesContext(connection) as queries:
        finish_reply(
            reply=reply, content="Hi", status="complete", prompt_tokens=5, first_token_ms=9
        )

    rollup_writes = [q["sql"] for q in queries.captured_queries if '"usage_' in q["sql"]]
    # One row each (``executemany`` is logged as "1 times: ..."), and no read.
    assert [sql.split()[:3] for sql in rollup_writes] == [["1", "times:", "INSERT"]] * 2
    assert usage_rows() == {
        (reply.created_at.date(), reply.session.user_id, reply.model): (1, 0, 5, 0, 0)
    }


@pytest.mark.django_db
def test_a_ratings_copy_follows_it_and_goes_with_it_or_its_conversation():
    first, second = (
        reply(ChatSessionFactory(), when, model=model)
        for when, model in (("2026-02-28 23:59", "m-1"), ("2026-03-01 00:00", "m-2"))
    )
    for rated in (first, second):
        sharing_services.rate_reply(user=rated.session.user, message_id=rated.pk, rating="up")
    sharing_services.rate_reply(user=second.session.user, message_id=second.pk, rating="down")
    assert sorted(ratings().values()) == [
        (date(2026, 2, 28), "m-1", "up"),
        (date(2026, 3, 1), "m-2", "down"),
    ]

    sharing_services.remove_rating(user=first.session.user, message_id=first.pk)
    assert sorted(ratings().values()) == [(date(2026, 3, 1), "m-2", "down")]
    conversation_services.delete_session(user=second.session.user, session_id=second.session_id)
    assert ratings() == {}
