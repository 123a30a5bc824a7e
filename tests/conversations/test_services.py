"""Services: the seed's workflows and the failure semantics of DESIGN.md, end to end
against the loopback upstream."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chatbot.env import parse_rate
from conversations import limits, replies, reply_storage, selectors, services, titles
from conversations.errors import (
    ChatSuspended,
    NothingToRegenerate,
    RateLimited,
    ReplyInProgress,
    SessionNotFound,
)
from conversations.models import ChatSession, Message
from core.errors import InvalidInput
from loopback.upstream import Behaviour
from tests.factories import MessageFactory, UserFactory, conversation
from tests.replying import send

pytestmark = pytest.mark.django_db(transaction=True)


def rows(session_id) -> list[tuple[int, str, str, str]]:
    return list(
        Message.objects.filter(session_id=session_id)
        .order_by("sequence")
        .values_list("sequence", "role", "status", "content")
    )


async def test_start_conversation_stores_both_messages_and_a_title(upstream, bystanders):
    user = await sync_to_async(UserFactory)()
    finished = await send(user, "Hello, who are you?")
    reply = finished.message
    assert finished.error is None
    assert reply.status == "complete" and reply.content == "You said: Hello, who are you?"
    assert reply.model == "test-model"
    assert reply.prompt_tokens is not None and reply.completion_tokens == 6
    assert reply.token_count > 0
    stored = await sync_to_async(rows)(reply.session_id)
    assert stored == [
        (1, "user", "complete", "Hello, who are you?"),
        (2, "assistant", "complete", "You said: Hello, who are you?"),
    ]
    session = await ChatSession.objects.aget(pk=reply.session_id)
    # The title comes from the model (the echo server echoes the title prompt's message).
    assert session.title == "You said: Hello, who are you?"
    assert upstream.chat_requests()[-1]["messages"][0]["content"].startswith("Write a short title")
    # The other user's untitled conversation keeps no title and no new message.
    assert await sync_to_async(bystanders.unchanged)()


async def test_continue_conversation_sends_earlier_turns_to_model(upstream, bystanders):
    user = await sync_to_async(UserFactory)()
    await sync_to_async(conversation)(user, turns=2)
    first = await send(user, "My name is Ada")
    await send(user, "What is my name?", session_id=first.message.session_id)
    sent = upstream.reply_requests()[-1]["messages"]
    assert [(m["role"], m["content"]) for m in sent[1:]] == [
        ("user", "My name is Ada"),
        ("assistant", "You said: My name is Ada"),
        ("user", "What is my name?"),
    ]
    assert sent[0]["role"] == "system"


async def test_system_prompt_includes_user_and_chat_instructions(upstream, settings):
    settings.CHATBOT_SYSTEM_PROMPT = "Base prompt."
    user = await sync_to_async(UserFactory)(custom_instructions="Call me Captain.")
    await send(user, "hi")
    system = upstream.reply_requests()[-1]["messages"][0]
    assert system["role"] == "system"
    assert system["content"].startswith("Base prompt.") and "Call me Captain." in system["content"]


def test_get_conversation_history_and_list_are_scoped_to_the_user(db):
    owner, stranger = UserFactory(), UserFactory()
    older = conversation(owner, turns=2)
    newer = conversation(owner, turns=1)
    ChatSession.objects.filter(pk=older.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    history = selectors.messages_for_session(user=owner, session_id=older.pk)
    assert [(m.sequence, m.role) for m in history] == [
        (1, "user"),
        (2, "assistant"),
        (3, "user"),
        (4, "assistant"),
    ]
    assert list(selectors.sessions_for_user(owner)) == [newer, older]
    assert list(selectors.sessions_for_user(stranger)) == []
    with pytest.raises(SessionNotFound):
        selectors.messages_for_session(user=stranger, session_id=older.pk)
    with pytest.raises(SessionNotFound):
        selectors.get_session(user=owner, session_id="not-a-uuid")


def test_search_finds_titles_and_message_text(db, bystanders):
    user = UserFactory()
    by_title = conversation(user, turns=0, title="Holiday plans")
    by_text = conversation(user, turns=0, title="Other")
    MessageFactory(session=by_text, content="a question about HOLIDAY flights")
    hidden = conversation(user, turns=0, title="Hidden")
    MessageFactory(session=hidden, content="secret holiday", hidden=True)
    conversation(user, turns=1, title="Unrelated")
    assert set(selectors.sessions_for_user(user, query="holiday")) == {by_title, by_text}


def test_rename_and_delete(db):
    session = conversation(turns=1)
    renamed = services.rename_session(user=session.user, session_id=session.pk, title="  New  ")
    assert renamed.title == "New"
    for bad in ["", "   ", "x" * 256, 12, None]:
        with pytest.raises(InvalidInput):
            services.rename_session(user=session.user, session_id=session.pk, title=bad)
    with pytest.raises(SessionNotFound):
        services.delete_session(user=UserFactory(), session_id=session.pk)
    services.delete_session(user=session.user, session_id=session.pk)
    assert not ChatSession.objects.filter(pk=session.pk).exists()
    assert not Message.objects.filter(session_id=session.pk).exists()


@pytest.mark.parametrize(
    "text",
    ["", "   \n", "x" * 10_001, "nul\x00byte", "bell\x07", "lone \ud800 surrogate", 42, None],
)
def test_invalid_messages_are_refused_before_anything_is_stored(db, text):
    with pytest.raises(InvalidInput) as error:
        services.clean_message(text)
    assert error.value.field == "message"


def test_unusual_but_valid_text_is_kept_exactly(db):
    for text in ["שלום עולם", "emoji 🎉👩‍💻", "tab\tand\nnewline", "\u202eRTL override"]:
        assert services.clean_message(text) == text


async def test_upstream_down_keeps_user_message_and_marks_reply_failed(upstream, settings):
    settings.CHATBOT_LLM_MAX_RETRIES = 1
    user = await sync_to_async(UserFactory)()
    upstream.push(Behaviour(status=503), Behaviour(status=503))
    finished = await send(user, "are you there?")
    assert finished.error is not None and finished.error.status_code == 503
    assert "secret" not in finished.error.detail
    assert len(upstream.chat_requests()) == 2  # the SDK retried once
    stored = await sync_to_async(rows)(finished.message.session_id)
    assert stored == [(1, "user", "complete", "are you there?"), (2, "assistant", "failed", "")]
    # The next send works and the failed reply is not sent as context.
    again = await send(user, "now?", session_id=finished.message.session_id)
    assert again.message.status == "complete"
    roles = [m["role"] for m in upstream.reply_requests()[-1]["messages"]]
    assert roles == ["system", "user", "user"]


async def test_connection_dropped_mid_stream_keeps_partial_reply_as_failed(upstream):
    user = await sync_to_async(UserFactory)()
    upstream.push(Behaviour(content="alpha beta gamma delta", drop_after=2))
    finished = await send(user, "tell me")
    assert finished.message.status == "failed"
    assert finished.message.content == "alpha beta "
    assert finished.error.status_code == 503


async def test_reply_is_saved_as_it_grows(upstream, settings):
    settings.CHATBOT_STREAM_SAVE_INTERVAL = 0.05
    user = await sync_to_async(UserFactory)()
    upstream.push(Behaviour(tokens=40, token_gap=0.02))
    turn = await services.send_message(user=user, text="long one")
    run = replies.start_reply(turn)
    await asyncio.sleep(0.5)
    partial = await Message.objects.aget(pk=turn.reply.pk)
    assert partial.status == "streaming"
    assert partial.content.startswith("tok0 tok1 ") and len(partial.content) < len(
        "".join(f"tok{i} " for i in range(40))
    )
    finished = await run.result()
    assert finished.message.content == "".join(f"tok{i} " for i in range(40))


async def test_replies_streaming_together_are_saved_together(upstream, settings):
    settings.CHATBOT_STREAM_SAVE_INTERVAL = 0.05
    user = await sync_to_async(UserFactory)()
    runs = []
    for text in ("first", "second"):
        upstream.push(Behaviour(tokens=40, token_gap=0.02))
        runs.append(replies.start_reply(await services.send_message(user=user, text=text)))
    await asyncio.sleep(0.4)
    assert len(replies._savers) == 1  # one saver for the process's loop, not one per reply

    for run in runs:
        partial = await Message.objects.aget(pk=run.reply_id)
        assert partial.status == "streaming"
        assert partial.content.startswith("tok0 tok1 ")
    await asyncio.gather(*(run.result() for run in runs))
    await asyncio.sleep(0.15)
    assert replies._savers == {}  # it ends with the last reply


def test_progress_of_many_replies_is_one_statement_and_spares_finished_ones():
    session = conversation(UserFactory(), turns=0)
    streaming = [
        MessageFactory(session=session, role="assistant", status="streaming", content="")
        for _ in range(3)
    ]
    done = MessageFactory(session=session, role="assistant", status="complete", content="final")
    before = timezone.now()

    with CaptureQueriesContext(connection) as captured:
        reply_storage.save_reply_progress(
            {**{message.pk: f"text {i}" for i, message in enumerate(streaming)}, done.pk: "late"}
        )

    updates = [query["sql"] for query in captured.captured_queries if "UPDATE" in query["sql"]]
    assert len(updates) == 1 and updates[0].startswith("4 times:")
    for i, message in enumerate(streaming):
        message.refresh_from_db()
        assert (message.content, message.status) == (f"text {i}", "streaming")
        assert message.updated_at >= before
    done.refresh_from_db()
    assert (done.content, done.status) == ("final", "complete")


async def test_stop_closes_upstream_and_keeps_partial_as_cancelled(upstream):
    user = await sync_to_async(UserFactory)()
    upstream.push(Behaviour(tokens=200, token_gap=0.02))
    turn = await services.send_message(user=user, text="go on forever")
    run = replies.start_reply(turn)
    async for event in run.events():
        if isinstance(event, replies.ReplyDelta) and "tok3" in run.content:
            await replies.stop_reply(turn.reply.pk)
    finished = await run.result()
    assert finished.message.status == "cancelled"
    assert finished.message.content.startswith("tok0 tok1 tok2 tok3")
    assert "tok199" not in finished.message.content
    await asyncio.sleep(0.2)
    assert upstream.open_streams == 0


async def test_a_slow_subscriber_gets_merged_deltas_with_every_piece(upstream):
    user = await sync_to_async(UserFactory)()
    upstream.push(Behaviour(tokens=60, token_gap=0.002))
    turn = await services.send_message(user=user, text="quickly")
    run = replies.start_reply(turn)
    deltas = []
    async for event in run.events():
        if isinstance(event, replies.ReplyDelta):
            deltas.append(event.content)
            await asyncio.sleep(0.05)  # a client slower than the model
    assert "".join(deltas) == "".join(f"tok{i} " for i in range(60))
    assert 1 < len(deltas) < 30


async def test_a_subscriber_leaving_does_not_stop_the_reply(upstream):
    user = await sync_to_async(UserFactory)()
    upstream.push(Behaviour(tokens=30, token_gap=0.01))
    turn = await services.send_message(user=user, text="keep going")
    run = replies.start_reply(turn)
    async for _event in run.events():
        break  # the client goes away after the first piece
    finished = await run.result()
    assert finished.message.status == "complete"
    assert finished.message.content.endswith("tok29 ")


async def test_regenerate_keeps_the_old_reply_as_a_sibling_and_makes_the_new_one_current(
    upstream,
):
    user = await sync_to_async(UserFactory)()
    first = await send(user, "first")
    upstream.push(Behaviour(content="a better answer"))
    turn = await services.regenerate_reply(user=user, session_id=first.message.session_id)
    finished = await replies.start_reply(turn).result()
    assert finished.message.content == "a better answer"
    assert finished.message.pk != first.message.pk
    stored = await sync_to_async(rows)(first.message.session_id)
    assert stored == [
        (1, "user", "complete", "first"),
        (2, "assistant", "complete", "You said: first"),
        (3, "assistant", "complete", "a better answer"),
    ]
    assert finished.message.parent_id == first.message.parent_id == turn.user_message.pk
    assert finished.message.sibling_ids == [str(first.message.pk), str(finished.message.pk)]
    session = await ChatSession.objects.aget(pk=first.message.session_id)
    assert session.current_message_id == finished.message.pk


async def test_regenerate_refused_while_streaming_and_without_a_user_message(upstream):
    user = await sync_to_async(UserFactory)()
    upstream.push(Behaviour(tokens=50, token_gap=0.02))
    turn = await services.send_message(user=user, text="slow")
    run = replies.start_reply(turn)
    with pytest.raises(ReplyInProgress):
        await services.regenerate_reply(user=user, session_id=turn.session.pk)
    run.cancel()
    await run.result()
    empty = await sync_to_async(conversation)(user, turns=0)
    with pytest.raises(NothingToRegenerate):
        await services.regenerate_reply(user=user, session_id=empty.pk)


async def test_title_falls_back_to_first_words_when_the_title_call_fails(
    upstream, settings, bystanders
):
    settings.CHATBOT_LLM_MAX_RETRIES = 0
    user = await sync_to_async(UserFactory)()
    upstream.push(Behaviour(content="ok"), Behaviour(status=500))
    finished = await send(user, "Plan a trip to Lisbon in spring with kids please")
    session = await ChatSession.objects.aget(pk=finished.message.session_id)
    assert session.title == "Plan a trip to Lisbon in…"
    assert await sync_to_async(bystanders.unchanged)()


async def test_title_is_never_overwritten_after_a_rename(upstream):
    user = await sync_to_async(UserFactory)()
    first = await send(user, "hello")
    await sync_to_async(services.rename_session)(
        user=user, session_id=first.message.session_id, title="Mine"
    )
    await send(user, "again", session_id=first.message.session_id)
    session = await ChatSession.objects.aget(pk=first.message.session_id)
    assert session.title == "Mine"


async def test_demo_backend_answers_when_no_model_is_configured(settings):
    settings.OPENAI_API_KEY = settings.OPENAI_BASE_URL = ""
    user = await sync_to_async(UserFactory)()
    finished = await send(user, "hello demo")
    assert finished.message.status == "complete"
    assert "Demo mode" in finished.message.content and finished.message.model == "demo"


async def test_suspended_user_cannot_send(upstream):
    user = await sync_to_async(UserFactory)(chat_suspended=True)
    with pytest.raises(ChatSuspended):
        await services.send_message(user=user, text="hi")
    assert await Message.objects.acount() == 0


async def test_rate_limit_refuses_and_stores_nothing(upstream, settings, monkeypatch):
    settings.CHATBOT_RATE_LIMIT = parse_rate("2/min")
    # The limiter's clock stands 20.25 s into a minute: every send falls in one window.
    window_start = (int(time.time()) // 60 + 1) * 60
    monkeypatch.setattr(limits.time, "time", lambda: window_start + 20.25)
    user = await sync_to_async(UserFactory)()
    session = await sync_to_async(conversation)(user, turns=0)
    for _ in range(2):
        turn = await services.send_message(user=user, text="hi", session_id=session.pk)
        await replies.start_reply(turn).result()
    with pytest.raises(RateLimited) as error:
        await services.send_message(user=user, text="one more", session_id=session.pk)
    assert error.value.retry_after == 40
    assert await Message.objects.filter(session=session).acount() == 4


async def test_another_users_session_is_not_found(upstream):
    owner, stranger = await sync_to_async(UserFactory)(), await sync_to_async(UserFactory)()
    session = await sync_to_async(conversation)(owner, turns=1)
    with pytest.raises(SessionNotFound):
        await services.send_message(user=stranger, text="mine now", session_id=session.pk)
    with pytest.raises(SessionNotFound):
        await services.regenerate_reply(user=stranger, session_id=session.pk)
    assert await Message.objects.filter(session=session).acount() == 2


def test_stale_streaming_replies_are_marked_failed(db, settings, bystanders):
    session = conversation(turns=1)
    stale = MessageFactory(session=session, role="assistant", status="streaming", content="half")
    fresh = MessageFactory(session=session, role="assistant", status="streaming", content="live")
    long_ago = timezone.now() - timedelta(seconds=settings.CHATBOT_STREAM_STALE_AFTER + 1)
    Message.objects.filter(session=session).exclude(pk=fresh.pk).update(updated_at=long_ago)
    assert reply_storage.fail_stale_replies(session_id=session.pk) == 1
    assert bystanders.unchanged()
    assert reply_storage.fail_stale_replies(reply_id=bystanders.stale_reply.pk) == 1
    assert reply_storage.fail_stale_replies() == 0
    statuses = Message.objects.order_by("sequence").values_list("status", flat=True)
    assert list(statuses.filter(session=session)) == ["complete", "complete", "failed", "streaming"]
    assert list(statuses.filter(session=bystanders.session)) == [
        "complete",
        "complete",
        "complete",
        "failed",
    ]
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert (stale.status, stale.content) == ("failed", "half")
    assert fresh.status == "streaming"


def test_stale_replies_are_failed_only_once_the_writer_is_quiet_long_enough(db, settings):
    settings.CHATBOT_STREAM_STALE_AFTER = 30
    session = conversation(turns=0)
    now = timezone.now()
    quiet = {
        seconds: MessageFactory(
            session=session,
            role="assistant",
            status="streaming",
            updated_at=now - timedelta(seconds=seconds),
        )
        for seconds in (29, 31, 3600)
    }
    assert reply_storage.fail_stale_replies(session_id=session.pk) == 2
    statuses = {s: Message.objects.get(pk=m.pk).status for s, m in quiet.items()}
    assert statuses == {29: "streaming", 31: "failed", 3600: "failed"}


def test_a_generated_title_goes_to_its_own_untitled_session_only(db, bystanders):
    session = conversation(turns=1, title="")
    assert titles.set_generated_title(session_id=session.pk, title="Trip ideas")
    assert not titles.set_generated_title(session_id=session.pk, title="Second try")
    session.refresh_from_db()
    assert session.title == "Trip ideas"
    assert bystanders.unchanged()


async def test_concurrent_sends_to_one_conversation_get_gapless_paired_sequences(upstream):
    user = await sync_to_async(UserFactory)()
    session = await sync_to_async(conversation)(user, turns=0)
    turns = await asyncio.gather(
        *(services.send_message(user=user, text=f"m{i}", session_id=session.pk) for i in range(20))
    )
    await asyncio.gather(*(replies.start_reply(turn).result() for turn in turns))
    stored = await sync_to_async(rows)(session.pk)
    assert [row[0] for row in stored] == list(range(1, 41))
    for user_row, reply_row in zip(stored[::2], stored[1::2], strict=True):
        assert user_row[1] == "user" and reply_row[1] == "assistant"
        assert reply_row[3] == f"You said: {user_row[3]}"


async def test_idempotency_key_returns_the_first_turn_instead_of_a_second(upstream):
    user = await sync_to_async(UserFactory)()
    first = await services.send_message(user=user, text="only once", idempotency_key="k-1")
    await replies.start_reply(first).result()
    again = await services.send_message(user=user, text="only once", idempotency_key="k-1")
    assert again.replayed and again.reply.pk == first.reply.pk
    assert again.reply.content == "You said: only once"
    assert await Message.objects.filter(session__user=user).acount() == 2
    other = await sync_to_async(UserFactory)()
    theirs = await services.send_message(user=other, text="only once", idempotency_key="k-1")
    assert not theirs.replayed


async def test_concurrent_sends_with_one_idempotency_key_store_one_turn(upstream):
    user = await sync_to_async(UserFactory)()
    turns = await asyncio.gather(
        *(services.send_message(user=user, text="same", idempotency_key="k-2") for _ in range(5))
    )
    assert len({turn.user_message.pk for turn in turns}) == 1
    assert sum(not turn.replayed for turn in turns) == 1
    await replies.start_reply(next(t for t in turns if not t.replayed)).result()
    assert await Message.objects.filter(session__user=user).acount() == 2


def test_idempotency_key_expires_after_a_day(db):
    from conversations.models import IdempotencyKey

    user = UserFactory()
    message = MessageFactory(session__user=user)
    IdempotencyKey.objects.create(
        user=user, key="old", user_message=message, created_at=timezone.now() - timedelta(hours=25)
    )
    assert services.replayed_turn(user=user, key="old") is None
    for bad in ["", "x" * 256, "tab\tkey", 5]:
        with pytest.raises(InvalidInput):
            services.clean_idempotency_key(bad)
