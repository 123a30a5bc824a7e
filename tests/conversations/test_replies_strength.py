"""Streaming a reply (issue 23): what a run stores (text, status, usage, timings) however it
ends, what its subscribers and the user's tabs receive and in which order, stop from this
process and from another, the saver's rounds, the final save while the database is down
(nothing reported done that was not stored), titles, and a reply followed through its row.

The model's stream is scripted (``llm.stream`` replaced: each event goes to the run when the
test gives it) where order matters; the loopback upstream answers the rest and the titles.
``replies.py`` sees an ``asyncio`` of the test's: its pauses pass at once and are recorded,
the saver runs a round only when the test says, and a frozen loop clock makes timings exact.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import logging
import types
from collections import deque
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.db.utils import OperationalError
from django.utils import timezone
from redis.exceptions import ConnectionError as RedisConnectionError

from conversations import events, limits, llm, replies, reply_storage, services
from conversations.context import Context, count_tokens
from conversations.errors import LLMUnavailable
from conversations.models import ChatSession, Message
from core.errors import StorageUnavailable
from loopback.upstream import Behaviour
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

# The saver's pause in these tests (exact in binary): it sleeps until the test runs a round.
SAVE_INTERVAL = 0.0625
REAL_SLEEP = asyncio.sleep
PROBE = contextvars.ContextVar("probe", default="fresh")
LOG = "conversations.replies"


# --- replies.py's asyncio ------------------------------------------------------------------


class LoopClock:
    """The running loop as replies.py sees it, with a clock that moves only when told."""

    def __init__(self, loop, now: float) -> None:
        self._loop = loop
        self.now = now

    def time(self) -> float:
        return self.now

    def __getattr__(self, name):
        return getattr(self._loop, name)


class Times:
    """The ``asyncio`` of replies.py: its pauses recorded and passed at once (moving a frozen
    clock), the saver's sleep held until ``save_round``, ``wait_for``'s limits recorded."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self.waits: list[float | None] = []
        self.timed_out: list[float | None] = []  # the waits that ran out
        self.before_wait = None  # an async callable run as wait_for starts
        self.clock: LoopClock | None = None
        self.on_pause = None  # an async callable run at each pause
        self.saver_probes: list[str] = []
        self._permits: asyncio.Queue = asyncio.Queue()
        self._saver_asleep = asyncio.Event()
        self.module = types.SimpleNamespace(**vars(asyncio))
        self.module.sleep = self._sleep
        self.module.get_running_loop = self._get_running_loop
        self.module.wait_for = self._wait_for

    def freeze(self, at: float = 100.0) -> LoopClock:
        self.clock = LoopClock(asyncio.get_running_loop(), at)
        return self.clock

    def _get_running_loop(self):
        return self.clock if self.clock is not None else asyncio.get_running_loop()

    async def _wait_for(self, awaitable, timeout):  # noqa: ASYNC109 (wait_for's own name)
        self.waits.append(timeout)
        if self.before_wait is not None:
            await self.before_wait()
        try:
            return await asyncio.wait_for(awaitable, timeout)
        except TimeoutError:
            self.timed_out.append(timeout)
            raise

    async def _sleep(self, delay, result=None):
        if delay == SAVE_INTERVAL:
            self.saver_probes.append(PROBE.get())
            self._saver_asleep.set()
            await self._permits.get()
            return result
        self.pauses.append(delay)
        if self.clock is not None:
            self.clock.now += delay
        if self.on_pause is not None:
            await self.on_pause(delay)
        await REAL_SLEEP(0)
        return result

    async def save_round(self) -> None:
        """Let the saver run one round; return once it sleeps again or has ended."""
        saver = replies._savers[asyncio.get_running_loop()]
        async with asyncio.timeout(10):
            await self._saver_asleep.wait()
        self._saver_asleep.clear()
        self._permits.put_nowait(None)
        asleep = asyncio.ensure_future(self._saver_asleep.wait())
        try:
            async with asyncio.timeout(10):
                await asyncio.wait({asleep, saver}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            asleep.cancel()


@pytest.fixture(autouse=True)
async def times(monkeypatch, settings):
    # The same parts on both runs of the suite: the in-process channel layer (its queues are
    # read here) and a local cache (its expiry follows the frozen clock). What Redis changes
    # is tested with Redis elsewhere.
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "chatbot.forks.layers.FastGroupSendLayer",
            "CONFIG": {"capacity": 1000},
        }
    }
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.CHATBOT_STREAM_SAVE_INTERVAL = SAVE_INTERVAL
    times = Times()
    monkeypatch.setattr(replies, "asyncio", times.module)
    yield times
    loop = asyncio.get_running_loop()
    # Only this loop's tasks: a run another test left on its own loop is that test's to end.
    leftovers = [
        run.task
        for run in list(replies._runs.values())
        if run.task is not None and run.task.get_loop() is loop
    ]
    leftovers += [saver for saver in replies._savers.values() if saver.get_loop() is loop]
    for task in leftovers:
        task.cancel()
    await asyncio.gather(*leftovers, return_exceptions=True)
    for key, saver in list(replies._savers.items()):
        if saver.get_loop() is loop:
            del replies._savers[key]
    replies._titling.clear()


# --- the model's stream, scripted ----------------------------------------------------------


class Stream:
    """One reply's stream: the events given (an exception is raised where it stands), ended
    by a ``StreamEnd``; ``messages`` and ``options`` are what the run asked with."""

    def __init__(self, *items) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()
        for item in items:
            self.queue.put_nowait(item)
        self.messages = self.model = self.options = None
        self.probe = None
        self.started = False
        self.closed = False
        self.swallow_cancel = False
        self._asking = asyncio.Event()

    async def events(self):
        self.started = True
        try:
            while True:
                if self.queue.empty():
                    self._asking.set()
                try:
                    item = await self.queue.get()
                except asyncio.CancelledError:
                    if not self.swallow_cancel:
                        raise
                    item = llm.TextDelta("late ")
                if isinstance(item, BaseException):
                    raise item
                yield item
                if isinstance(item, llm.StreamEnd):
                    return
        finally:
            self.closed = True

    async def give(self, *items) -> None:
        """Each item to the run, in turn; back once the run handled it and asks for more
        (without items: once the run asks, the items it was made with handled)."""
        if not items:
            async with asyncio.timeout(10):
                await self._asking.wait()
        for item in items:
            self._asking.clear()
            self.queue.put_nowait(item)
            async with asyncio.timeout(10):
                await self._asking.wait()

    def end(self, item=None) -> None:
        self.queue.put_nowait(item or llm.StreamEnd(model="test-model"))


class Script:
    def __init__(self) -> None:
        self.streams: deque[Stream] = deque()
        self.used: list[Stream] = []

    def add(self, *items) -> Stream:
        stream = Stream(*items)
        self.streams.append(stream)
        return stream

    def stream(self, messages, *, model=None, options=None):
        stream = self.streams.popleft()
        stream.messages, stream.model, stream.options = messages, model, options
        stream.probe = PROBE.get()
        self.used.append(stream)
        return stream.events()


@pytest.fixture
def script(monkeypatch, upstream):
    script = Script()
    monkeypatch.setattr(llm, "stream", script.stream)
    return script


def delta(text: str) -> llm.TextDelta:
    return llm.TextDelta(text)


def end(**usage) -> llm.StreamEnd:
    return llm.StreamEnd(**{"model": "test-model", **usage})


class Titler:
    """``llm.generate_title`` replaced: what it was asked, and whether the conversation was
    marked as being titled meanwhile."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object, bool]] = []
        self.answer: str | Exception = "A generated title"
        self.hold: asyncio.Event | None = None  # set: answers once the test sets it

    async def __call__(self, first_message, *, model=None):
        self.calls.append((first_message, model, bool(replies._titling)))
        if self.hold is not None:
            await self.hold.wait()
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.fixture
def titler(monkeypatch):
    titler = Titler()
    monkeypatch.setattr(llm, "generate_title", titler)
    return titler


# --- helpers ---------------------------------------------------------------------------------


async def new_user():
    return await sync_to_async(UserFactory)()


async def new_turn(user=None, text="Hello there", **kwargs) -> services.Turn:
    return await services.send_message(user=user or await new_user(), text=text, **kwargs)


async def ended(run: replies.ReplyRun) -> replies.ReplyFinished:
    """The run's end, once its task (title included) is over without an error."""
    async with asyncio.timeout(10):
        finished = await run.result()
        await asyncio.shield(run.task)
    return finished


async def next_of(events):
    """The next event of a subscriber, waited for at most 10 s."""
    async with asyncio.timeout(10):
        return await anext(events)


async def stored(reply_id) -> Message:
    return await Message.objects.aget(pk=reply_id)


async def tab(user_id) -> str:
    """A channel in the user's group, as an open tab's."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(events.user_group(user_id), channel)
    return channel


async def received(channel: str) -> list[dict]:
    """Every message waiting on ``channel``, oldest first."""
    layer = get_channel_layer()
    got = []
    while channel in layer.channels:
        got.append(await layer.receive(channel))
    return got


def deltas_of(messages: list[dict], turn) -> str:
    """The text of the ``chat.delta`` events, each checked to start where the last ended."""
    text = ""
    for message in messages:
        if message["type"] != "chat.delta":
            continue
        assert message == {
            "type": "chat.delta",
            "sessionId": str(turn.session.pk),
            "messageId": str(turn.reply.pk),
            "content": message["content"],
            "offset": len(text),
        }
        assert message["content"]
        text += message["content"]
    return text


def messages_of(caplog, level=logging.WARNING) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOG and r.levelno >= level]


# --- stop_key, start_reply, local_run, follow_reply ----------------------------------------


def test_the_stop_flag_is_named_after_the_reply():
    assert replies.stop_key("5f0c") == "reply-stop:5f0c"


async def test_a_run_is_found_by_its_reply_while_it_streams_and_its_row_after(script):
    stream = script.add(delta("ab"))
    turn = await new_turn()
    assert replies.local_run(turn.reply.pk) is None
    assert isinstance(replies.follow_reply(turn), replies.StoredReply)

    run = replies.start_reply(turn)
    await stream.give(delta("cd"))

    assert run.reply_id == str(turn.reply.pk) and run.user_id == turn.session.user_id
    assert replies.local_run(turn.reply.pk) is run
    assert replies.local_run(str(turn.reply.pk)) is run
    assert replies.follow_reply(turn) is run
    assert run.content == "abcd" and run.pieces == ["ab", "cd"]
    stream.end()
    await ended(run)
    assert replies.local_run(turn.reply.pk) is None
    followed = replies.follow_reply(turn)
    assert isinstance(followed, replies.StoredReply)
    assert followed.reply_id == str(turn.reply.pk)


async def test_a_run_starts_in_a_fresh_context_with_the_clients_options(script, titler):
    stream = script.add(delta("ab"), end())
    turn = await new_turn()
    options = llm.GenerationOptions(temperature=0.5, max_tokens=12)
    PROBE.set("the request's")

    run = replies.start_reply(turn, options=options)
    await ended(run)

    assert stream.options is options
    assert stream.model is turn.context.model
    assert stream.messages == turn.context.messages
    assert stream.probe == "fresh"


async def test_one_saver_per_loop_runs_in_a_fresh_context_and_ends_with_its_last_reply(
    script, times
):
    first, second = script.add(delta("a")), script.add(delta("b"))
    user = await new_user()
    PROBE.set("the request's")
    one = replies.start_reply(await new_turn(user))
    loop = asyncio.get_running_loop()
    saver = replies._savers[loop]
    two = replies.start_reply(await new_turn(user, "again"))
    # Only this loop's entries: a server an earlier test ran may have left its loop's saver.
    assert {key: task for key, task in replies._savers.items() if key is loop} == {loop: saver}
    await first.give()
    await second.give()
    await times.save_round()
    assert times.saver_probes[0] == "fresh"

    first.end()
    second.end()
    await ended(one)
    await ended(two)
    assert not saver.done()
    await times.save_round()  # no reply left: it ends
    assert saver.done() and loop not in replies._savers

    third = script.add(delta("c"), end())
    run = replies.start_reply(await new_turn(user, "third"))
    assert replies._savers[loop] is not saver
    await ended(run)
    assert third.closed


async def test_a_run_without_a_task_cannot_be_cancelled(script):
    turn = await new_turn()
    run = replies.ReplyRun(turn)
    run.cancel()
    assert run.task is None and run.finished is None and run.end is None
    assert run.pieces == [] and run.content == "" and run.saved == "" and run.idle == 0.0


# --- what is stored ----------------------------------------------------------------------------


async def test_a_complete_reply_stores_its_text_usage_and_timings(script, titler, times):
    clock = times.freeze(at=100.0)
    stream = script.add()
    turn = await new_turn()
    usage = end(model="other-model", prompt_tokens=11, completion_tokens=7, cached_tokens=5)

    run = replies.start_reply(turn)
    await stream.give()
    clock.now = 100.25
    await stream.give(delta("Hello "))
    clock.now = 100.5
    await stream.give(delta("wide "))
    clock.now = 101.5
    await stream.give(delta("world"))
    clock.now = 103.0
    stream.end(usage)
    finished = await ended(run)

    assert finished.error is None and run.end == usage
    reply = await stored(turn.reply.pk)
    assert finished.message.pk == reply.pk
    assert (reply.status, reply.content, reply.model) == (
        "complete",
        "Hello wide world",
        "other-model",
    )
    assert (reply.prompt_tokens, reply.completion_tokens, reply.cached_tokens) == (11, 7, 5)
    assert (reply.first_token_ms, reply.total_ms) == (250, 1500)
    assert reply.token_count == count_tokens("Hello wide world")
    assert stream.closed and times.pauses == []


async def test_timings_are_rounded_milliseconds_and_none_without_a_token(script, titler, times):
    clock = times.freeze(at=0.0)
    stream = script.add()
    turn = await new_turn()
    run = replies.start_reply(turn)
    await stream.give()
    clock.now = 0.2506
    await stream.give(delta("x"))
    assert run._elapsed_ms(0.2504) == 250
    assert run._elapsed_ms(None) is None
    stream.end()
    await ended(run)
    reply = await stored(turn.reply.pk)
    assert (reply.first_token_ms, reply.total_ms) == (251, 251)

    silent = script.add(end(prompt_tokens=3, completion_tokens=0))
    other = await new_turn(text="silence")
    model = (await stored(other.reply.pk)).model
    await ended(replies.start_reply(other))
    reply = await stored(other.reply.pk)
    assert (reply.status, reply.content, reply.model) == ("complete", "", model)
    assert (reply.first_token_ms, reply.total_ms) == (None, None)
    assert (reply.prompt_tokens, reply.completion_tokens) == (3, 0)
    assert silent.closed
    idle = replies.ReplyRun(other)
    assert idle._elapsed_ms(1.0) is None  # never asked the model


async def test_a_failed_stream_keeps_its_text_and_says_why(script, titler):
    error = LLMUnavailable("The reply was interrupted. Please try again.")
    stream = script.add(delta("alpha "), delta("beta "), error)
    turn = await new_turn()
    model = (await stored(turn.reply.pk)).model
    listening = await tab(turn.session.user_id)

    finished = await ended(replies.start_reply(turn))

    assert finished.error is error
    reply = await stored(turn.reply.pk)
    assert (reply.status, reply.content, reply.model) == ("failed", "alpha beta ", model)
    assert (reply.prompt_tokens, reply.completion_tokens, reply.cached_tokens) == (None, None, None)
    assert reply.first_token_ms is not None and reply.total_ms >= reply.first_token_ms
    sent = await received(listening)
    assert deltas_of(sent, turn) == "alpha beta "
    assert sent[-1]["type"] == "chat.reply"
    assert sent[-1]["message"]["status"] == "failed"
    assert sent[-1]["message"]["content"] == "alpha beta "
    assert sent[-1]["message"]["error"] == "The reply was interrupted. Please try again."
    assert titler.calls == [] and stream.closed


async def test_a_stream_past_the_deadline_fails_with_its_text(script, titler, settings, caplog):
    settings.CHATBOT_LLM_DEADLINE = 0.2
    stream = script.add(delta("ab"))  # then silence
    turn = await new_turn()

    finished = await ended(replies.start_reply(turn))

    assert isinstance(finished.error, LLMUnavailable)
    assert finished.error.detail == "The assistant took too long to answer. Please try again."
    reply = await stored(turn.reply.pk)
    assert (reply.status, reply.content) == ("failed", "ab")
    assert messages_of(caplog) == [f"reply {turn.reply.pk} passed CHATBOT_LLM_DEADLINE (0.2s)"]
    assert stream.closed and titler.calls == []


async def test_the_upstream_answer_is_stored_with_its_usage(upstream, bystanders):
    upstream.push(Behaviour(content="alpha beta gamma", cached_tokens=2))
    user = await new_user()
    turn = await new_turn(user, "Tell me three words")
    listening = await tab(user.pk)
    stranger = await tab(bystanders.user.pk)

    finished = await ended(replies.start_reply(turn))

    reply = await stored(turn.reply.pk)
    sent = upstream.reply_requests()[0]["messages"]
    prompt = sum(len(str(m["content"]).split()) for m in sent)
    assert (reply.status, reply.content, reply.model) == (
        "complete",
        "alpha beta gamma",
        "test-model",
    )
    assert (reply.prompt_tokens, reply.completion_tokens, reply.cached_tokens) == (prompt, 3, 2)
    assert 0 <= reply.first_token_ms <= reply.total_ms
    assert finished.error is None and finished.message.content == "alpha beta gamma"
    got = await received(listening)
    assert deltas_of(got, turn) == "alpha beta gamma"
    assert [m["type"] for m in got if m["type"] != "chat.delta"] == ["chat.reply", "chat.title"]
    assert got[-2]["message"]["usage"] == {
        "model": "test-model",
        "promptTokens": prompt,
        "completionTokens": 3,
        "cachedTokens": 2,
        "firstTokenMs": reply.first_token_ms,
        "totalMs": reply.total_ms,
    }
    assert "error" not in got[-2]["message"]
    assert got[-1] == {
        "type": "chat.title",
        "sessionId": str(turn.session.pk),
        "title": "You said: Tell me three words",
    }
    assert await received(stranger) == []
    assert await sync_to_async(bystanders.unchanged)()


async def test_an_upstream_that_is_down_fails_the_reply_with_its_error(upstream, settings):
    settings.CHATBOT_LLM_MAX_RETRIES = 0
    upstream.push(Behaviour(status=503))
    turn = await new_turn()

    finished = await ended(replies.start_reply(turn))

    assert finished.error.status_code == 503 and "secret" not in finished.error.detail
    reply = await stored(turn.reply.pk)
    assert (reply.status, reply.content) == ("failed", "")
    assert len(upstream.chat_requests()) == 1  # no title for a failed reply
    assert (await ChatSession.objects.aget(pk=turn.session.pk)).title == ""


async def test_a_turn_without_its_context_reads_it_and_a_given_one_is_sent_as_is(script, titler):
    user = await new_user()
    first = await new_turn(user, "first question")
    script.add(delta("first answer"), end())
    await ended(replies.start_reply(first))

    turn = await new_turn(user, "second question", session_id=first.session.pk)
    expected = turn.context.messages
    stream = script.add(delta("x"), end())
    await ended(replies.start_reply(dataclasses.replace(turn, context=None)))
    assert stream.messages == expected
    assert [(m["role"], m["content"]) for m in expected[1:]] == [
        ("user", "first question"),
        ("assistant", "first answer"),
        ("user", "second question"),
    ]

    given = Context(
        messages=[{"role": "user", "content": "only this"}],
        prompt_tokens=2,
        model=turn.context.model,
    )
    third = await new_turn(user, "third question", session_id=first.session.pk)
    stream = script.add(delta("y"), end())
    await ended(replies.start_reply(dataclasses.replace(third, context=given)))
    assert stream.messages == [{"role": "user", "content": "only this"}]


async def test_a_reply_whose_conversation_was_deleted_ends_with_nothing_to_send(script, titler):
    stream = script.add(delta("ab"))
    turn = await new_turn()
    run = replies.start_reply(turn)
    await stream.give()
    listening = await tab(turn.session.user_id)
    await ChatSession.objects.filter(pk=turn.session.pk).adelete()
    stream.end()

    finished = await ended(run)

    assert finished.message is None and finished.error is None
    assert await received(listening) == []
    assert titler.calls == []


# --- subscribers ---------------------------------------------------------------------------


async def test_a_subscriber_gets_the_text_so_far_then_each_piece_then_the_end(script, titler):
    stream = script.add(delta("Hel"), delta("lo"))
    turn = await new_turn()
    run = replies.start_reply(turn)
    await stream.give()
    subscriber = run.events()

    assert await next_of(subscriber) == replies.ReplyDelta("Hello")
    await stream.give(delta(" there"))
    assert await next_of(subscriber) == replies.ReplyDelta(" there")
    await stream.give(delta(" you"), delta("!"))
    stream.end()
    async with asyncio.timeout(10):
        await run.result()
    assert await next_of(subscriber) == replies.ReplyDelta(" you!")
    last = await next_of(subscriber)
    assert last == run.finished and last.message.content == "Hello there you!"
    with pytest.raises(StopAsyncIteration):
        await next_of(subscriber)
    assert run._subscribers == set()
    await ended(run)


async def test_every_subscriber_is_told_and_one_leaving_changes_nothing(script, titler):
    stream = script.add()
    turn = await new_turn()
    run = replies.start_reply(turn)
    first, second = run.events(), run.events()
    await stream.give(delta("a"))
    assert await next_of(first) == replies.ReplyDelta("a")
    assert await next_of(second) == replies.ReplyDelta("a")
    await stream.give(delta("b"))
    assert await next_of(first) == replies.ReplyDelta("b")
    await second.aclose()
    assert len(run._subscribers) == 1
    await stream.give(delta("c"))
    stream.end()
    assert await next_of(first) == replies.ReplyDelta("c")
    assert (await next_of(first)).message.status == "complete"
    await ended(run)


async def test_a_waiting_subscriber_gets_a_keepalive_only_when_asked(script, titler):
    stream = script.add()
    turn = await new_turn()
    run = replies.start_reply(turn)
    kept_alive = run.events(keepalive=0)
    async with asyncio.timeout(10):
        assert await anext(kept_alive) is None
        assert await anext(kept_alive) is None
    plain = run.events()
    waiting = asyncio.ensure_future(anext(plain))
    await stream.give(delta("a"))
    async with asyncio.timeout(10):
        assert await waiting == replies.ReplyDelta("a")
    stream.end()
    await ended(run)
    await kept_alive.aclose()


async def test_a_cancelled_waiter_leaves_the_reply_running(script, titler):
    stream = script.add(delta("a"))
    run = replies.start_reply(await new_turn())
    waiter = asyncio.ensure_future(run.result())
    await stream.give()
    waiter.cancel()
    stream.end()
    assert (await ended(run)).message.status == "complete"


# --- the user's tabs ---------------------------------------------------------------------------


async def test_a_tab_gets_every_piece_once_then_the_reply_then_the_title(script, titler):
    stream = script.add()
    turn = await new_turn()
    listening = await tab(turn.session.user_id)
    run = replies.start_reply(turn)
    layer = get_channel_layer()
    offset = 0
    for piece in ("Hel", "lo ", "there"):
        await stream.give(delta(piece))
        async with asyncio.timeout(10):  # sent while the reply streams, not at its end
            assert await layer.receive(listening) == {
                "type": "chat.delta",
                "sessionId": str(turn.session.pk),
                "messageId": str(turn.reply.pk),
                "content": piece,
                "offset": offset,
            }
        offset += len(piece)
    stream.end(end(prompt_tokens=4, completion_tokens=3))
    finished = await ended(run)

    sent = await received(listening)
    assert [m["type"] for m in sent] == ["chat.reply", "chat.title"]
    reply = sent[-2]["message"]
    assert reply["messageId"] == str(turn.reply.pk)
    assert (reply["status"], reply["content"]) == ("complete", "Hello there")
    assert reply["usage"]["promptTokens"] == 4 and reply["usage"]["completionTokens"] == 3
    assert "error" not in reply
    assert sent[-1] == {
        "type": "chat.title",
        "sessionId": str(turn.session.pk),
        "title": "A generated title",
    }
    assert finished.message.content == "Hello there"


async def test_a_tab_that_opens_mid_stream_gets_the_new_text_at_its_offset(script, titler):
    stream = script.add()
    turn = await new_turn()
    run = replies.start_reply(turn)
    await stream.give(delta("ab"), delta("cde"))  # no tab: nothing published
    listening = await tab(turn.session.user_id)
    await stream.give(delta("fg"), delta("h"))
    stream.end()
    await ended(run)

    sent = await received(listening)
    published = [m for m in sent if m["type"] == "chat.delta"]
    assert "".join(m["content"] for m in published) == "fgh"
    assert published[0]["offset"] == 5
    assert [m["offset"] for m in published] in ([5], [5, 7])
    assert [m["type"] for m in sent[len(published) :]] == ["chat.reply", "chat.title"]


async def test_a_tab_that_joins_mid_stream_is_sent_the_text_so_far(script, titler):
    stream = script.add(delta("ab"), delta("cd"))
    turn = await new_turn()
    run = replies.start_reply(turn)
    await stream.give()
    layer = get_channel_layer()
    joining = await layer.new_channel()

    await events.ask_for_reply_text(turn.reply.pk, reply_to=joining)
    async with asyncio.timeout(10):
        answer = await layer.receive(joining)

    assert answer == {
        "type": "chat.delta",
        "sessionId": str(turn.session.pk),
        "messageId": str(turn.reply.pk),
        "content": "abcd",
        "offset": 0,
    }
    stream.end()
    await ended(run)
    assert not layer.groups.get(events.reply_group(turn.reply.pk))
    await events.ask_for_reply_text(turn.reply.pk, reply_to=joining)
    assert await received(joining) == []


async def left(group: str) -> None:
    """Back once nobody is in ``group`` (a cancelled member leaves as its task ends)."""
    layer = get_channel_layer()
    async with asyncio.timeout(10):
        while layer.groups.get(group):  # noqa: ASYNC110 (no event tells)
            await asyncio.sleep(0)


async def test_the_answerer_is_ended_by_a_message_and_waited_for_two_seconds(script, titler, times):
    script.add(delta("a"), end())
    run = replies.start_reply(await new_turn())
    await ended(run)
    assert times.waits == [2.0] and times.timed_out == []


async def test_a_request_as_the_run_ends_is_answered_and_the_answerer_then_ends(
    script, titler, times
):
    script.add(delta("ab"), end())
    turn = await new_turn()
    layer = get_channel_layer()
    joining = await layer.new_channel()
    send = layer.send

    async def stop_lost(channel, message):
        if message.get("type") != replies.STOP_ANSWERING:
            await send(channel, message)

    async def ask_as_it_stops():
        await events.ask_for_reply_text(turn.reply.pk, reply_to=joining)

    layer.send = stop_lost  # the answerer is left to see that the run is over
    times.before_wait = ask_as_it_stops
    await ended(replies.start_reply(turn))
    assert await received(joining) == [
        {
            "type": "chat.delta",
            "sessionId": str(turn.session.pk),
            "messageId": str(turn.reply.pk),
            "content": "ab",
            "offset": 0,
        }
    ]
    assert times.timed_out == []


LAYER_ERRORS = [
    OSError("the layer is down"),
    RedisConnectionError("the layer is down"),
    ChannelFull("the layer is full"),
]


@pytest.mark.parametrize("error", LAYER_ERRORS, ids=lambda error: type(error).__name__)
async def test_an_answerer_that_misses_its_stop_is_cancelled(
    script, titler, times, monkeypatch, error
):
    monkeypatch.setattr(replies, "ANSWERER_STOP_SECONDS", 0.01)
    layer = get_channel_layer()
    send = layer.send

    async def send_but_the_stop(channel, message):
        if message.get("type") == replies.STOP_ANSWERING:
            raise error
        await send(channel, message)

    monkeypatch.setattr(layer, "send", send_but_the_stop)
    stream = script.add(delta("a"), end())
    turn = await new_turn()
    finished = await ended(replies.start_reply(turn))
    assert finished.message.status == "complete"
    assert times.timed_out == [0.01]
    await left(events.reply_group(turn.reply.pk))
    assert stream.closed


@pytest.mark.parametrize("error", LAYER_ERRORS[:2], ids=lambda error: type(error).__name__)
async def test_an_answerer_that_cannot_leave_its_group_changes_nothing(
    script, titler, times, monkeypatch, error
):
    layer = get_channel_layer()
    discard = layer.group_discard
    left_groups = []

    async def fail(group, channel):
        left_groups.append(group)
        await discard(group, channel)
        raise error

    monkeypatch.setattr(layer, "group_discard", fail)
    script.add(delta("a"), end())
    turn = await new_turn()
    finished = await ended(replies.start_reply(turn))
    assert (finished.message.status, finished.message.content) == ("complete", "a")
    assert left_groups == [events.reply_group(turn.reply.pk)]
    assert times.timed_out == []


async def test_a_publisher_that_breaks_costs_the_tabs_their_deltas_not_the_reply(
    script, titler, monkeypatch
):
    layer = get_channel_layer()
    group_send = layer.group_send

    async def no_deltas(group, message):
        if message["type"] == "chat.delta":
            raise RuntimeError("a bug in the layer")
        await group_send(group, message)

    monkeypatch.setattr(layer, "group_send", no_deltas)
    stream = script.add()
    turn = await new_turn()
    listening = await tab(turn.session.user_id)
    run = replies.start_reply(turn)
    await stream.give(delta("a"))
    await stream.give(delta("b"))
    stream.end()
    finished = await ended(run)

    assert (finished.message.status, finished.message.content) == ("complete", "ab")
    assert [m["type"] for m in await received(listening)] == ["chat.reply", "chat.title"]


async def test_an_answerer_whose_layer_fails_logs_it_and_the_reply_goes_on(
    script, titler, monkeypatch, caplog
):
    layer = get_channel_layer()

    async def down(group, channel):
        raise OSError("the layer is down")

    monkeypatch.setattr(layer, "group_add", down)
    script.add(delta("a"), end())
    turn = await new_turn()
    finished = await ended(replies.start_reply(turn))
    assert finished.message.status == "complete"
    assert messages_of(caplog) == [
        f"reply {turn.reply.pk} cannot answer for its text: the layer is down"
    ]


async def test_without_a_channel_layer_the_reply_is_stored_all_the_same(script, titler, settings):
    settings.CHANNEL_LAYERS = {}
    assert get_channel_layer() is None
    script.add(delta("a"), delta("b"), end())
    turn = await new_turn()
    finished = await ended(replies.start_reply(turn))
    assert (finished.message.status, finished.message.content) == ("complete", "ab")
    assert (await ChatSession.objects.aget(pk=turn.session.pk)).title == "A generated title"


# --- stop ----------------------------------------------------------------------------------------


async def test_stop_keeps_the_text_as_cancelled_and_closes_the_stream(script, titler):
    stream = script.add(delta("ab"))
    turn = await new_turn()
    listening = await tab(turn.session.user_id)
    run = replies.start_reply(turn)
    await stream.give()

    await replies.stop_reply(turn.reply.pk)
    finished = await ended(run)

    assert finished.error is None and stream.closed
    reply = await stored(turn.reply.pk)
    assert (reply.status, reply.content) == ("cancelled", "ab")
    assert await sync_to_async(cache.get)(replies.stop_key(turn.reply.pk)) is None
    sent = await received(listening)
    assert deltas_of(sent, turn) == "ab"
    assert [m["type"] for m in sent if m["type"] != "chat.delta"] == ["chat.reply"]
    assert sent[-1]["message"]["status"] == "cancelled" and "error" not in sent[-1]["message"]
    assert titler.calls == []


async def test_a_stream_that_swallows_the_stop_is_stopped_at_its_next_piece(script, titler):
    stream = script.add(delta("ab"))
    stream.swallow_cancel = True
    turn = await new_turn()
    run = replies.start_reply(turn)
    await stream.give()

    run.cancel()
    finished = await ended(run)

    assert (finished.message.status, finished.message.content) == ("cancelled", "ab")
    assert stream.closed


async def test_stop_from_another_process_is_a_flag_for_ten_minutes(frozen_clock):
    await replies.stop_reply("5f0c")
    assert await sync_to_async(cache.get)("reply-stop:5f0c") is True
    frozen_clock.advance(599.5)
    assert await sync_to_async(cache.get)("reply-stop:5f0c") is True
    frozen_clock.advance(0.5)
    assert await sync_to_async(cache.get)("reply-stop:5f0c") is None


async def test_shutdown_fails_every_reply_and_keeps_their_text(script, titler, caplog):
    first, second = script.add(delta("one ")), script.add(delta("two "))
    user = await new_user()
    one = replies.start_reply(await new_turn(user, "first"))
    two = replies.start_reply(await new_turn(user, "second"))
    await first.give()
    await second.give()

    await replies.stop_all_local()

    for run, text in ((one, "one "), (two, "two ")):
        finished = run.finished
        assert isinstance(finished.error, LLMUnavailable)
        assert finished.error.detail == "The server stopped while answering."
        reply = await stored(run.reply_id)
        assert (reply.status, reply.content) == ("failed", text)
        assert run.task.done() and run.task.exception() is None
    assert first.closed and second.closed
    assert messages_of(caplog) == [] and titler.calls == []
    assert replies._runs == {}


async def test_shutdown_during_the_final_save_releases_the_reply_and_says_so(
    script, titler, times, monkeypatch, caplog
):
    times.freeze()
    outage(monkeypatch, failures=1)
    holding = asyncio.Event()

    async def hold(_pause):
        holding.set()
        await asyncio.Event().wait()

    times.on_pause = hold
    script.add(delta("ab"), end())
    turn = await new_turn()
    run = replies.start_reply(turn)
    async with asyncio.timeout(10):
        await holding.wait()

    await replies.stop_all_local()

    assert run.finished.message is None
    assert isinstance(run.finished.error, StorageUnavailable)
    assert run.task.cancelled()
    assert messages_of(caplog)[-2:] == [
        f"reply {turn.reply.pk} could not be finished",
        f"reply {turn.reply.pk} did not finish cleanly on shutdown",
    ]
    assert times.waits == [5, 2.0]
    reply = await stored(turn.reply.pk)
    assert (reply.status, reply.content) == ("streaming", "")


# --- the saver ------------------------------------------------------------------------------------


def progress_calls(monkeypatch, *, fail_first: int = 0) -> list[dict]:
    calls: list[dict] = []
    real = reply_storage.save_reply_progress

    def save(progress):
        calls.append(dict(progress))
        if len(calls) <= fail_first:
            raise OperationalError("database is down")
        return real(progress)

    monkeypatch.setattr(reply_storage, "save_reply_progress", save)
    return calls


async def test_the_saver_writes_grown_text_and_beats_when_idle(
    script, times, settings, monkeypatch
):
    settings.CHATBOT_STREAM_HEARTBEAT = 3 * SAVE_INTERVAL
    calls = progress_calls(monkeypatch)
    stream = script.add()
    turn = await new_turn()
    run = replies.start_reply(turn)
    key = str(turn.reply.pk)

    await times.save_round()
    await times.save_round()
    assert calls == []  # nothing yet, and not idle long enough
    await stream.give(delta("ab"))
    await times.save_round()
    assert calls == [{key: "ab"}]
    reply = await stored(key)
    assert (reply.status, reply.content) == ("streaming", "ab")
    await times.save_round()
    await times.save_round()
    assert calls == [{key: "ab"}]
    await times.save_round()  # idle for the heartbeat: written again
    assert calls == [{key: "ab"}, {key: "ab"}]
    await times.save_round()
    await stream.give(delta("cd"))
    await times.save_round()
    assert calls == [{key: "ab"}, {key: "ab"}, {key: "abcd"}]
    stream.end()
    await ended(run)


async def test_the_saver_writes_live_replies_together_and_skips_finished_ones(
    script, times, titler, monkeypatch
):
    calls = progress_calls(monkeypatch)
    first, second = script.add(delta("one")), script.add(delta("two"))
    user = await new_user()
    one = replies.start_reply(await new_turn(user, "first"))
    two = replies.start_reply(await new_turn(user, "second"))
    await first.give()
    await second.give()

    await times.save_round()
    assert calls == [{one.reply_id: "one", two.reply_id: "two"}]
    titler.hold = asyncio.Event()
    await first.give(delta(" more"))
    first.end()
    async with asyncio.timeout(10):
        await one.result()  # its title is being asked for: still a run, no longer live
    assert replies.local_run(one.reply_id) is one
    await second.give(delta(" more"))
    await times.save_round()
    assert calls[1:] == [{two.reply_id: "two more"}]
    titler.hold.set()
    await ended(one)
    second.end()
    await ended(two)
    await times.save_round()
    assert len(calls) == 2


async def test_the_saver_leaves_the_replies_of_other_loops_to_their_own(script, times, monkeypatch):
    calls = progress_calls(monkeypatch)
    stream = script.add(delta("mine"))
    user = await new_user()
    run = replies.start_reply(await new_turn(user, "here"))
    await stream.give()
    elsewhere = replies.ReplyRun(await new_turn(user, "in another thread"))
    elsewhere.pieces.append("theirs")
    elsewhere.task = types.SimpleNamespace(get_loop=lambda: "another thread's loop")
    replies._runs[elsewhere.reply_id] = elsewhere
    try:
        await times.save_round()
    finally:
        del replies._runs[elsewhere.reply_id]
    assert calls == [{run.reply_id: "mine"}]
    run.cancel()
    await ended(run)


async def test_a_failed_save_is_logged_and_tried_again_next_round(
    script, times, monkeypatch, caplog
):
    calls = progress_calls(monkeypatch, fail_first=1)
    stream = script.add(delta("ab"))
    turn = await new_turn()
    run = replies.start_reply(turn)
    await stream.give()

    await times.save_round()
    assert messages_of(caplog) == ["could not save the progress of 1 replies"]
    assert [r.exc_info[0] for r in caplog.records if r.name == LOG] == [OperationalError]
    await times.save_round()
    assert calls == [{run.reply_id: "ab"}, {run.reply_id: "ab"}]
    assert (await stored(run.reply_id)).content == "ab"
    run.cancel()
    await ended(run)


async def test_a_stop_flag_set_elsewhere_is_read_with_redis_only(script, times, settings):
    first, second = script.add(delta("a")), script.add(delta("b"))
    user = await new_user()
    flagged = replies.start_reply(await new_turn(user, "first"))
    other = replies.start_reply(await new_turn(user, "second"))
    await first.give()
    await second.give()
    await sync_to_async(cache.set)(replies.stop_key(flagged.reply_id), True, 600)

    settings.REDIS_URL = None
    await times.save_round()
    assert flagged.finished is None and other.finished is None

    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    await times.save_round()
    finished = await ended(flagged)
    assert (finished.message.status, finished.message.content) == ("cancelled", "a")
    assert other.finished is None and not other.task.done()
    other.cancel()
    assert (await ended(other)).message.status == "cancelled"


# --- the final save ---------------------------------------------------------------------------


def outage(monkeypatch, *, failures: int) -> list[dict]:
    """``finish_reply`` down for its first ``failures`` calls."""
    calls: list[dict] = []
    real = reply_storage.finish_reply

    def finish(**fields):
        calls.append(fields)
        if len(calls) <= failures:
            raise OperationalError("database is down")
        return real(**fields)

    monkeypatch.setattr(reply_storage, "finish_reply", finish)
    return calls


async def test_the_final_save_is_retried_until_the_database_is_back(
    script, titler, times, monkeypatch, caplog
):
    clock = times.freeze(at=100.0)
    calls = outage(monkeypatch, failures=2)
    stream = script.add(delta("ab"))
    held = limits.Reservation(keys=("a-count",), tokens=50)
    turn = dataclasses.replace(await new_turn(), reservation=held)

    run = replies.start_reply(turn)
    await stream.give()
    clock.now = 100.5
    await stream.give(delta("cd"))
    stream.end(end(model="other-model", prompt_tokens=9, completion_tokens=2, cached_tokens=1))
    finished = await ended(run)

    assert (finished.message.status, finished.message.content) == ("complete", "abcd")
    assert finished.error is None
    assert times.pauses == [0.1, 0.2]
    assert calls == 3 * [
        {
            "reply": turn.reply,
            "content": "abcd",
            "status": "complete",
            "model": "other-model",
            "prompt_tokens": 9,
            "completion_tokens": 2,
            "cached_tokens": 1,
            "first_token_ms": 0,
            "total_ms": 500,
            "reservation": held,
        }
    ]
    assert messages_of(caplog) == [
        f"reply {turn.reply.pk}: the database is unreachable; retrying the final save in 0.1s",
        f"reply {turn.reply.pk}: the database is unreachable; retrying the final save in 0.2s",
    ]
    reply = await stored(turn.reply.pk)
    assert (reply.status, reply.content) == ("complete", "abcd")


@pytest.mark.parametrize(
    ("retry", "pauses"),
    [
        (0, []),
        (0.1, [0.1]),
        (1.0, [0.1, 0.2, 0.4]),
        (10, [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0]),
    ],
)
async def test_a_final_save_that_never_succeeds_releases_every_waiter(
    script, titler, times, settings, monkeypatch, caplog, retry, pauses
):
    settings.CHATBOT_FINAL_SAVE_RETRY = retry
    times.freeze()
    calls = outage(monkeypatch, failures=100)
    script.add(delta("ab"), delta("cde"), end())
    turn = await new_turn()
    await sync_to_async(reply_storage.save_reply_progress)({turn.reply.pk: "ab"})
    listening = await tab(turn.session.user_id)
    run = replies.start_reply(turn)

    async def follow_run():
        return [event async for event in run.events()]

    following = asyncio.ensure_future(follow_run())  # waiting when the end comes
    async with asyncio.timeout(10):
        finished = await run.result()
        assert await following == [replies.ReplyDelta("abcde"), finished]
        with pytest.raises(OperationalError):
            await asyncio.shield(run.task)

    assert finished.message is None and isinstance(finished.error, StorageUnavailable)
    assert len(calls) == len(pauses) + 1 and times.pauses == pauses
    logged = messages_of(caplog)
    assert logged[-2:] == [
        f"reply {turn.reply.pk}: the final save failed for {retry}s (database unreachable): "
        "it keeps the text saved before the outage, the stale sweep marks it failed, and the "
        "5 characters held in memory are lost",
        f"reply {turn.reply.pk} could not be finished",
    ]
    assert len(logged) == len(pauses) + 2
    reply = await stored(turn.reply.pk)
    assert (reply.status, reply.content) == ("streaming", "ab")
    sent = await received(listening)
    assert {m["type"] for m in sent} <= {"chat.delta"}
    assert titler.calls == []


# --- titles -------------------------------------------------------------------------------------


async def test_a_new_conversation_is_titled_by_the_model_that_answered(script, titler):
    script.add(delta("ok"), end())
    turn = await new_turn(text="Plan a trip to Lisbon in spring please")
    listening = await tab(turn.session.user_id)
    await ended(replies.start_reply(turn))

    assert titler.calls == [("Plan a trip to Lisbon in spring please", turn.context.model, True)]
    assert replies._titling == set()
    session = await ChatSession.objects.aget(pk=turn.session.pk)
    assert session.title == "A generated title"
    assert (await received(listening))[-1] == {
        "type": "chat.title",
        "sessionId": str(turn.session.pk),
        "title": "A generated title",
    }


@pytest.mark.parametrize(
    ("answer", "title"),
    [
        ("**Trip plans.**\nsecond line", "Trip plans"),
        ("  \n", "Plan a trip to Lisbon in…"),
        (LLMUnavailable(), "Plan a trip to Lisbon in…"),
    ],
)
async def test_a_title_is_tidied_or_falls_back_to_the_first_words(script, titler, answer, title):
    titler.answer = answer
    script.add(delta("ok"), end())
    turn = await new_turn(text="Plan a trip to Lisbon in spring please")
    await ended(replies.start_reply(turn))
    assert (await ChatSession.objects.aget(pk=turn.session.pk)).title == title


async def test_a_later_turn_titles_its_conversation_only_while_it_is_untitled(script, titler):
    user = await new_user()
    first = await new_turn(user, "first words here")
    script.add(delta("ok"), end())
    await ended(replies.start_reply(first))
    assert [call[0] for call in titler.calls] == ["first words here"]

    # Untitled again (its title was never stored): the next turn reads it and asks.
    await ChatSession.objects.filter(pk=first.session.pk).aupdate(title="")
    second = await new_turn(user, "second words", session_id=first.session.pk)
    assert second.created_session is False and second.session.title == ""
    titler.answer = "Second title"
    listening = await tab(user.pk)
    script.add(delta("ok"), end())
    await ended(replies.start_reply(second))
    assert [call[0] for call in titler.calls] == ["first words here", "second words"]
    assert (await ChatSession.objects.aget(pk=first.session.pk)).title == "Second title"
    assert (await received(listening))[-1]["title"] == "Second title"

    # Read untitled, renamed before its reply ends: not asked.
    await ChatSession.objects.filter(pk=first.session.pk).aupdate(title="")
    third = await new_turn(user, "third words", session_id=first.session.pk)
    await sync_to_async(services.rename_session)(
        user=user, session_id=first.session.pk, title="Renamed"
    )
    script.add(delta("ok"), end())
    await ended(replies.start_reply(third))
    assert len(titler.calls) == 2
    assert (await ChatSession.objects.aget(pk=first.session.pk)).title == "Renamed"

    # Titled when its turn was read: not asked either.
    fourth = await new_turn(user, "fourth words", session_id=first.session.pk)
    await ChatSession.objects.filter(pk=first.session.pk).aupdate(title="")
    script.add(delta("ok"), end())
    await ended(replies.start_reply(fourth))
    assert len(titler.calls) == 2


async def test_a_new_conversation_renamed_while_it_streams_keeps_its_name(script, titler):
    stream = script.add(delta("ok"))
    user = await new_user()
    turn = await new_turn(user, "first words here")
    run = replies.start_reply(turn)
    await stream.give()
    await sync_to_async(services.rename_session)(
        user=user, session_id=turn.session.pk, title="Mine"
    )
    listening = await tab(user.pk)
    stream.end()
    await ended(run)
    assert len(titler.calls) == 1  # a new conversation is asked without a read
    assert (await ChatSession.objects.aget(pk=turn.session.pk)).title == "Mine"
    assert [m["type"] for m in await received(listening)] == ["chat.reply"]


async def test_a_conversation_being_titled_is_not_asked_again(script, titler):
    script.add(delta("ok"), end())
    turn = await new_turn()
    replies._titling.add(turn.session.pk)
    await ended(replies.start_reply(turn))
    assert titler.calls == []
    assert replies._titling == {turn.session.pk}
    assert (await ChatSession.objects.aget(pk=turn.session.pk)).title == ""


# --- StoredReply --------------------------------------------------------------------------------


async def follow(reply_id, keepalive=None) -> list:
    got = []
    async with asyncio.timeout(10):
        async for event in replies.StoredReply(reply_id).events(keepalive=keepalive):
            got.append(event)
    return got


async def test_a_stored_reply_is_followed_until_it_ends(times, bystanders):
    turn = await new_turn()
    polls = []

    async def poll(pause):
        polls.append(pause)
        if len(polls) == 5:
            await Message.objects.filter(pk=turn.reply.pk).aupdate(
                status="complete", content="the answer"
            )

    times.on_pause = poll
    got = await follow(turn.reply.pk, keepalive=0.5)

    assert polls == [0.25] * 5
    assert got[:2] == [None, None]
    assert got[2] == replies.ReplyDelta("the answer")
    assert got[3].error is None and got[3].message.pk == turn.reply.pk
    assert got[3].message.content == "the answer" and len(got) == 4

    times.pauses.clear()
    polls.clear()
    await Message.objects.filter(pk=turn.reply.pk).aupdate(status="streaming")
    times.on_pause = None

    async def finish_soon(pause):
        if len(times.pauses) == 3:
            await Message.objects.filter(pk=turn.reply.pk).aupdate(status="complete")

    times.on_pause = finish_soon
    got = await follow(turn.reply.pk)
    assert [type(event) for event in got] == [replies.ReplyDelta, replies.ReplyFinished]
    assert times.pauses == [0.25] * 3
    assert await sync_to_async(bystanders.unchanged)()  # its stale reply is not swept here


async def test_a_stored_reply_that_failed_or_is_gone_says_so():
    turn = await new_turn()
    await Message.objects.filter(pk=turn.reply.pk).aupdate(status="failed", content="")
    got = await follow(turn.reply.pk)
    assert len(got) == 1
    assert got[0].message.pk == turn.reply.pk and isinstance(got[0].error, LLMUnavailable)
    assert got[0].error.detail == LLMUnavailable.default_detail

    finished = await replies.StoredReply(turn.reply.pk).result()
    assert finished.message.status == "failed"

    await Message.objects.filter(pk=turn.reply.pk).aupdate(status="cancelled", content="part")
    got = await follow(turn.reply.pk)
    assert got[0] == replies.ReplyDelta("part") and got[1].error is None

    await ChatSession.objects.filter(pk=turn.session.pk).adelete()
    assert await follow(turn.reply.pk) == [replies.ReplyFinished(message=None, error=None)]


async def test_a_stored_reply_whose_writer_died_is_failed_with_its_text(settings, bystanders):
    turn = await new_turn()
    quiet = timezone.now() - timedelta(seconds=settings.CHATBOT_STREAM_STALE_AFTER + 1)
    await Message.objects.filter(pk=turn.reply.pk).aupdate(
        content="half an answer", updated_at=quiet
    )

    got = await follow(turn.reply.pk)

    assert got[0] == replies.ReplyDelta("half an answer")
    assert got[1].message.status == "failed" and isinstance(got[1].error, LLMUnavailable)
    assert (await stored(turn.reply.pk)).status == "failed"
    assert await sync_to_async(bystanders.unchanged)()
