"""``usage.rollup`` asked directly, the cases mutation testing found unchecked: the exact
bucket of a time and its bounds, each figure a reply adds to its own day, user and model
(another user's replies on the same day and model beside it), days cut at UTC midnight
whatever the server's time zone, sums added to rows already there, a swept reply counted
as failed, and the dashboard's copy of each rating made, refreshed and left alone while
fixtures load."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from conversations.models import Message
from sharing.models import MessageFeedback
from tests.factories import ChatSessionFactory, MessageFactory, UserFactory
from tests.usage.test_rollup import histogram, ratings, usage_rows
from usage import rollup
from usage.models import ReplyRating

DAY = date(2026, 3, 1)
# 00:30 on 2 March in a zone ten hours ahead of UTC: still 1 March in UTC.
AHEAD = datetime(2026, 3, 2, 0, 30, tzinfo=timezone(timedelta(hours=10)))


def ended(user_id: int, **fields) -> rollup.EndedReply:
    values = {
        "day": DAY,
        "user_id": user_id,
        "model": "m",
        "failed": False,
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "cached_tokens": 5,
        "first_token_ms": 300,
        **fields,
    }
    return rollup.EndedReply(**values)


@pytest.mark.parametrize(
    ("ms", "bucket"),
    [(0, 0), (1, 0), (2, 14), (3, 22), (1_000, 141), (60_000, 225)],
)
def test_a_time_falls_in_its_exact_bucket(ms, bucket):
    assert rollup.bucket_of(ms) == bucket


def test_a_buckets_bounds_are_powers_of_the_ratio_the_first_from_zero():
    assert rollup.bucket_bounds(0) == (0.0, 1.05)
    assert rollup.bucket_bounds(1) == (1.05, 1.05**2)
    assert rollup.bucket_bounds(14) == (1.05**14, 1.05**15)
    assert rollup.bucket_bounds(141) == (1.05**141, 1.05**142)


@pytest.mark.django_db
def test_replies_add_to_their_own_day_user_and_model():
    me, other = UserFactory(), UserFactory()

    rollup.record(
        [
            ended(me.pk),
            ended(me.pk, failed=True, prompt_tokens=7, completion_tokens=None, cached_tokens=None),
            ended(me.pk, failed=True, prompt_tokens=None, completion_tokens=3, first_token_ms=None),
            ended(me.pk, model="n", first_token_ms=1_000),
            ended(me.pk, day=DAY + timedelta(days=1), cached_tokens=0),
            ended(other.pk, prompt_tokens=1, completion_tokens=2, cached_tokens=3),
        ]
    )

    assert usage_rows() == {
        (DAY, me.pk, "m"): (3, 2, 107, 23, 10),
        (DAY, me.pk, "n"): (1, 0, 100, 20, 5),
        (DAY + timedelta(days=1), me.pk, "m"): (1, 0, 100, 20, 0),
        (DAY, other.pk, "m"): (1, 0, 1, 2, 3),
    }
    # The histogram is per day and model, whoever's the reply.
    assert histogram() == {
        (DAY, "m", 116): 3,  # 300 ms: me twice, the other user once
        (DAY, "n", 141): 1,
        (DAY + timedelta(days=1), "m", 116): 1,
    }


@pytest.mark.django_db
def test_sums_are_added_to_the_rows_already_there():
    me, other = UserFactory(), UserFactory()
    rollup.record([ended(me.pk), ended(other.pk, model="n")])

    rollup.record([ended(me.pk, failed=True, prompt_tokens=1, completion_tokens=2)])
    rollup.record([ended(me.pk, cached_tokens=1, first_token_ms=1)])
    rollup.record([])

    assert usage_rows() == {
        (DAY, me.pk, "m"): (3, 1, 201, 42, 11),
        (DAY, other.pk, "n"): (1, 0, 100, 20, 5),
    }
    assert histogram() == {(DAY, "m", 116): 2, (DAY, "n", 116): 1, (DAY, "m", 0): 1}


@pytest.mark.django_db
def test_recording_nothing_writes_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        rollup.record([])


def reply_at(created_at: datetime, *, model: str = "stored-model", **fields) -> Message:
    return MessageFactory(
        session=ChatSessionFactory(),
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        model=model,
        created_at=created_at,
        **fields,
    )


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["UTC", "Pacific/Auckland", "America/Los_Angeles"])
def test_an_ended_reply_counts_on_its_utc_day_with_its_stored_figures(settings, zone):
    settings.TIME_ZONE = zone
    reply = reply_at(AHEAD)
    reply.created_at = AHEAD  # as the send path holds it, in its own zone
    stored = {
        "status": Message.Status.COMPLETE,
        "model": "answering-model",
        "prompt_tokens": 50,
        "completion_tokens": 9,
        "cached_tokens": 4,
        "first_token_ms": 2,
    }

    rollup.record_reply(reply=reply, stored=stored)

    user_id = reply.session.user_id
    assert usage_rows() == {(DAY, user_id, "answering-model"): (1, 0, 50, 9, 4)}
    assert histogram() == {(DAY, "answering-model", 14): 1}


@pytest.mark.django_db
def test_an_ended_reply_without_a_model_stored_keeps_its_own_and_a_failure_counts():
    reply = reply_at(datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC))
    stored = {
        "status": Message.Status.FAILED,
        "prompt_tokens": None,
        "completion_tokens": None,
        "cached_tokens": None,
        "first_token_ms": None,
    }

    rollup.record_reply(reply=reply, stored=stored)
    rollup.record_reply(reply=reply, stored={**stored, "status": Message.Status.CANCELLED})

    assert usage_rows() == {(DAY, reply.session.user_id, "stored-model"): (2, 1, 0, 0, 0)}
    assert histogram() == {}


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["UTC", "Pacific/Auckland", "America/Los_Angeles"])
def test_swept_replies_count_as_failed_with_their_own_figures(settings, zone):
    settings.TIME_ZONE = zone
    first = reply_at(AHEAD, prompt_tokens=8, completion_tokens=2, cached_tokens=1)
    second = reply_at(AHEAD, model="other", first_token_ms=1_000)
    third = reply_at(datetime(2026, 3, 2, tzinfo=UTC), prompt_tokens=4)
    for reply in (first, second):
        reply.created_at = AHEAD

    rollup.record_swept(replies=[first, second, third])

    assert usage_rows() == {
        (DAY, first.session.user_id, "stored-model"): (1, 1, 8, 2, 1),
        (DAY, second.session.user_id, "other"): (1, 1, 0, 0, 0),
        (DAY + timedelta(days=1), third.session.user_id, "stored-model"): (1, 1, 4, 0, 0),
    }
    assert histogram() == {(DAY, "other", 141): 1}


def rated(rating: str = "up") -> MessageFeedback:
    """A rating stored without its signal (as fixtures load them)."""
    reply = reply_at(AHEAD, model="rated-model")
    reply.created_at = AHEAD
    feedback = MessageFeedback(user=reply.session.user, message=reply, rating=rating)
    MessageFeedback.objects.bulk_create([feedback])
    return MessageFeedback.objects.get(message=reply)


@pytest.mark.django_db
def test_a_saved_rating_is_copied_with_its_replys_utc_day_and_model():
    feedback = rated("down")

    rollup.rating_saved(instance=feedback)

    assert ratings() == {feedback.pk: (DAY, "rated-model", "down")}


@pytest.mark.django_db
def test_a_rating_loaded_from_a_fixture_is_not_copied():
    feedback = rated()

    rollup.rating_saved(instance=feedback, raw=True)

    assert ratings() == {}


@pytest.mark.django_db
def test_copying_again_refreshes_the_copys_day_model_and_rating_and_no_other():
    first, second = rated("up"), rated("down")
    rollup.copy_ratings([first, second])
    ReplyRating.objects.filter(pk=first.pk).update(day=date(2000, 1, 1), model="old", rating="down")
    ReplyRating.objects.filter(pk=second.pk).update(day=date(2000, 1, 1), model="old")

    rollup.copy_ratings([first])

    assert ratings() == {
        first.pk: (DAY, "rated-model", "up"),
        second.pk: (date(2000, 1, 1), "old", "down"),
    }


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["UTC", "Pacific/Auckland", "America/Los_Angeles"])
def test_a_rating_is_copied_with_its_replys_utc_day_whatever_the_servers_zone(settings, zone):
    settings.TIME_ZONE = zone  # the process's local time too
    late, early = (
        reply_at(datetime(2026, 3, 1, 23, 30, tzinfo=UTC)),  # 2 March in Auckland
        reply_at(datetime(2026, 3, 1, 0, 30, tzinfo=UTC)),  # 28 February in Los Angeles
    )
    MessageFeedback.objects.bulk_create(
        MessageFeedback(user=reply.session.user, message=reply, rating="up")
        for reply in (late, early)
    )
    stored = list(MessageFeedback.objects.select_related("message").order_by("pk"))

    rollup.copy_ratings(stored)

    assert ratings() == {feedback.pk: (DAY, "stored-model", "up") for feedback in stored}
