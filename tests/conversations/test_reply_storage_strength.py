"""Storing replies (issue 23), with a second user's conversation in the database that must
stay as it was: the growing text of streaming replies only, the final row with every field
and its quota settled, counted once in the usage rollup, and the sweep of replies whose
writer died, by conversation or by reply, at the exact cutoff."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations import limits, reply_storage, selectors
from conversations.context import count_tokens
from conversations.models import ChatSession, Message
from sharing.models import MessageFeedback
from tests.factories import MessageFactory, UserFactory, conversation
from usage.models import DailyUsage

pytestmark = pytest.mark.django_db


def streaming_reply(session=None, *, age: timedelta = timedelta(0), **fields) -> Message:
    session = session or conversation(UserFactory(), turns=0)
    MessageFactory(session=session, role="user", content="question")
    reply = MessageFactory(
        session=session, role="assistant", content="partial", status="streaming", **fields
    )
    Message.objects.filter(pk=reply.pk).update(updated_at=timezone.now() - age)
    return Message.objects.get(pk=reply.pk)


def row(message: Message) -> Message:
    return Message.objects.get(pk=message.pk)


def usage_rows() -> list[tuple]:
    return list(
        DailyUsage.objects.order_by("user_id", "model").values_list(
            "user_id", "model", "messages", "failed", "prompt_tokens", "completion_tokens"
        )
    )


# --- save_reply_progress ------------------------------------------------------------------


def test_progress_is_written_to_streaming_replies_only(bystanders):
    first, second = streaming_reply(age=timedelta(seconds=5)), streaming_reply()
    done = streaming_reply(age=timedelta(seconds=5))
    Message.objects.filter(pk=done.pk).update(status="complete", content="final")
    done = row(done)
    started = timezone.now()

    reply_storage.save_reply_progress(
        {first.pk: "grown text", str(second.pk): "other text", done.pk: "late text"}
    )

    assert (row(first).content, row(first).status) == ("grown text", "streaming")
    assert row(second).content == "other text"
    assert row(first).updated_at >= started and row(second).updated_at >= started
    assert (row(done).content, row(done).updated_at) == ("final", done.updated_at)
    assert bystanders.unchanged()


def test_progress_is_written_in_id_order_as_deletes_lock_them(bystanders):
    """The order delete_session locks replies in: the two never wait for each other."""
    replies = [streaming_reply() for _ in range(4)]
    # Text that sorts against the ids, and a mapping in the opposite order.
    by_id = sorted((reply.pk for reply in replies), key=str)
    texts = {pk: f"text {9 - n}" for n, pk in enumerate(by_id)}
    progress = {pk: texts[pk] for pk in reversed(by_id)}
    written = []

    def record(execute, sql, params, many, context):
        if many:
            written.extend(row[2] for row in params)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        reply_storage.save_reply_progress(progress)

    ids = [Message._meta.get_field("id").to_python(value) for value in written]
    assert ids == by_id
    assert all(row(reply).content == texts[reply.pk] for reply in replies)
    assert bystanders.unchanged()


def test_no_progress_costs_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        reply_storage.save_reply_progress({})


# --- finish_reply -------------------------------------------------------------------------


def test_a_finished_reply_is_stored_with_every_field_and_counted_once(bystanders):
    reply = streaming_reply(model="asked-model")
    before = ChatSession.objects.get(pk=reply.session_id).updated_at

    stored = reply_storage.finish_reply(
        reply=reply,
        content="The whole answer.",
        status="complete",
        model="answering-model",
        prompt_tokens=11,
        completion_tokens=7,
        cached_tokens=3,
        first_token_ms=120,
        total_ms=900,
    )

    saved = row(reply)
    assert stored is reply
    fields = (
        "content",
        "status",
        "model",
        "token_count",
        "prompt_tokens",
        "completion_tokens",
        "cached_tokens",
        "first_token_ms",
        "total_ms",
    )
    expected = (
        "The whole answer.",
        "complete",
        "answering-model",
        count_tokens("The whole answer."),
        11,
        7,
        3,
        120,
        900,
    )
    assert tuple(getattr(saved, name) for name in fields) == expected
    assert tuple(getattr(stored, name) for name in fields) == expected
    assert stored.updated_at == saved.updated_at
    assert ChatSession.objects.get(pk=reply.session_id).updated_at == saved.updated_at > before
    assert usage_rows() == [(reply.session.user_id, "answering-model", 1, 0, 11, 7)]
    assert DailyUsage.objects.get().day == reply.created_at.astimezone(UTC).date()
    assert bystanders.unchanged()


def test_without_a_model_the_reply_keeps_its_own_and_no_figures_are_none():
    reply = streaming_reply(model="asked-model")

    stored = reply_storage.finish_reply(reply=reply, content="", status="failed")

    saved = row(reply)
    assert (saved.model, saved.status, saved.content, saved.token_count) == (
        "asked-model",
        "failed",
        "",
        0,
    )
    assert (saved.prompt_tokens, saved.completion_tokens, saved.cached_tokens) == (None,) * 3
    assert (saved.first_token_ms, saved.total_ms) == (None, None)
    assert stored.model == "asked-model"
    assert usage_rows() == [(reply.session.user_id, "asked-model", 1, 1, 0, 0)]


def test_a_reply_swept_meanwhile_is_stored_but_not_counted_again():
    reply = streaming_reply(model="m")
    Message.objects.filter(pk=reply.pk).update(status="failed")

    stored = reply_storage.finish_reply(
        reply=reply, content="late", status="complete", prompt_tokens=5, completion_tokens=5
    )

    assert stored is reply
    assert (row(reply).content, row(reply).status) == ("late", "complete")
    assert usage_rows() == []


def test_a_reply_whose_conversation_was_deleted_returns_none_and_settles_its_quota():
    reply = streaming_reply()
    cache.set("token-quota:test", 500)
    reservation = limits.Reservation(keys=("token-quota:test",), tokens=500)
    ChatSession.objects.filter(pk=reply.session_id).delete()

    stored = reply_storage.finish_reply(
        reply=reply,
        content="gone",
        status="complete",
        prompt_tokens=30,
        completion_tokens=12,
        reservation=reservation,
    )

    assert stored is None
    assert reply.content == "partial"
    assert cache.get("token-quota:test") == 42
    assert usage_rows() == []


@pytest.mark.parametrize(
    ("prompt", "completion", "spent"),
    [(30, 12, 42), (30, None, 30), (None, 12, 12), (None, None, None), (0, 0, None)],
)
def test_the_quota_holds_what_the_reply_spent(prompt, completion, spent):
    """The upstream's figures, else the reply's own count."""
    reply = streaming_reply()
    cache.set("token-month:test", 1000)
    cache.set("token-quota:test", 800)
    reservation = limits.Reservation(keys=("token-month:test", "token-quota:test"), tokens=500)
    content = "four words of answer"

    reply_storage.finish_reply(
        reply=reply,
        content=content,
        status="complete",
        prompt_tokens=prompt,
        completion_tokens=completion,
        reservation=reservation,
    )

    own = count_tokens(content) if spent is None else spent
    assert (cache.get("token-month:test"), cache.get("token-quota:test")) == (
        500 + own,
        300 + own,
    )


def test_a_reply_hidden_while_it_streamed_comes_back_hidden_with_its_siblings():
    reply = streaming_reply()
    Message.objects.filter(pk=reply.pk).update(hidden=True)

    stored = reply_storage.finish_reply(reply=reply, content="text", status="complete")

    assert stored.hidden is True
    assert stored.sibling_ids == [str(reply.pk)]
    assert (stored.my_rating, stored.my_comment) == (None, None)


def test_a_reply_whose_siblings_were_read_gets_its_flag_and_rating_back():
    reply = streaming_reply()
    selectors.with_sibling_ids([reply])
    reply.sibling_ids = ["kept"]
    MessageFeedback.objects.create(
        message=reply, user=reply.session.user, rating="up", comment="good"
    )
    Message.objects.filter(pk=reply.pk).update(hidden=True)

    stored = reply_storage.finish_reply(reply=reply, content="text", status="complete")

    assert (stored.hidden, stored.my_rating, stored.my_comment) == (True, "up", "good")
    assert stored.sibling_ids == ["kept"]


# --- fail_stale_replies -------------------------------------------------------------------


@pytest.fixture
def cutoff(monkeypatch):
    """The stale cutoff, stopped: a reply last saved before it has lost its writer."""
    at = timezone.now() - timedelta(minutes=1)
    monkeypatch.setattr(selectors, "stale_cutoff", lambda: at)
    return at


def stale(session=None, *, saved_at, **fields) -> Message:
    reply = streaming_reply(session, **fields)
    Message.objects.filter(pk=reply.pk).update(updated_at=saved_at)
    return row(reply)


def statuses(*replies: Message) -> list[str]:
    return [row(reply).status for reply in replies]


def test_the_sweep_fails_replies_saved_before_the_cutoff_only(cutoff):
    user, other = UserFactory(), UserFactory()
    old = stale(conversation(user, turns=0), saved_at=cutoff - timedelta(microseconds=1))
    elsewhere = stale(
        conversation(other, turns=0),
        saved_at=cutoff - timedelta(days=1),
        model="m",
        prompt_tokens=9,
    )
    at_cutoff = stale(saved_at=cutoff)
    fresh = stale(saved_at=timezone.now())
    ended = stale(saved_at=cutoff - timedelta(days=1))
    Message.objects.filter(pk=ended.pk).update(status="complete")

    swept = reply_storage.fail_stale_replies()

    assert swept == 2
    assert statuses(old, elsewhere, at_cutoff, fresh, ended) == [
        "failed",
        "failed",
        "streaming",
        "streaming",
        "complete",
    ]
    assert row(old).content == "partial"
    assert sorted(usage_rows()) == sorted([(user.pk, "", 1, 1, 0, 0), (other.pk, "m", 1, 1, 9, 0)])


def test_the_sweep_of_one_conversation_leaves_the_others(cutoff, bystanders):
    mine, other = conversation(UserFactory(), turns=0), conversation(UserFactory(), turns=0)
    first, second = (
        stale(mine, saved_at=cutoff - timedelta(hours=1)),
        stale(mine, saved_at=cutoff - timedelta(hours=1)),
    )
    theirs = stale(other, saved_at=cutoff - timedelta(hours=1))

    assert reply_storage.fail_stale_replies(session_id=mine.pk) == 2
    assert statuses(first, second, theirs) == ["failed", "failed", "streaming"]
    assert bystanders.unchanged()


def test_the_sweep_of_one_reply_leaves_the_others(cutoff, bystanders):
    session = conversation(UserFactory(), turns=0)
    first = stale(session, saved_at=cutoff - timedelta(hours=1))
    second = stale(session, saved_at=cutoff - timedelta(hours=1))

    assert reply_storage.fail_stale_replies(reply_id=second.pk) == 1
    assert reply_storage.fail_stale_replies(session_id=session.pk, reply_id=second.pk) == 0
    assert statuses(first, second) == ["streaming", "failed"]
    assert bystanders.unchanged()


def test_a_sweep_that_finds_nothing_only_reads(cutoff, bystanders, django_assert_num_queries):
    fresh = stale(saved_at=timezone.now())

    with django_assert_num_queries(1):
        assert reply_storage.fail_stale_replies(session_id=fresh.session_id) == 0
    assert usage_rows() == []
    assert bystanders.unchanged()


def test_a_sweep_reads_no_reply_text_and_no_query_per_reply(cutoff, bystanders):
    def sweep_queries(count: int) -> list[str]:
        Message.objects.filter(status="streaming").update(status="complete")
        for _ in range(count):
            stale(saved_at=cutoff - timedelta(hours=1))
        with CaptureQueriesContext(connection) as captured:
            assert reply_storage.fail_stale_replies() == count
        return [query["sql"] for query in captured]

    one, three = sweep_queries(1), sweep_queries(3)

    assert len(one) == len(three)
    column = "." + connection.ops.quote_name("content")
    reads = [sql for sql in three if sql.startswith("SELECT")]
    assert reads and all(column not in sql for sql in reads), reads
