"""Streaming a reply: a background task per reply that outlives the client that asked.

``start_reply(turn)`` spawns the task and returns its ``ReplyRun``. The task streams from
``llm.stream``, hands each piece to local subscribers (an SSE response, a WebSocket) and to
the user's channel-layer group (every open tab, in any process), and ends the reply
``complete``, ``failed`` or ``cancelled``. A subscriber that goes away changes nothing.
One task per process writes the growing text of all its replies to the database every
``CHATBOT_STREAM_SAVE_INTERVAL`` seconds, in one statement.

Stop works from any process: the run is cancelled at once in its own process, and from
another process through a flag in the shared cache that the run reads as it saves.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError

from catalogue.entries import ModelEntry
from conversations import events, llm, payloads, reply_storage, services, titles
from conversations.db import run_db
from conversations.errors import LLMUnavailable
from conversations.models import Message
from conversations.services import Turn
from core.errors import OUTAGES, ChatError, StorageUnavailable

logger = logging.getLogger(__name__)

_runs: dict[str, ReplyRun] = {}
# Conversations whose title this process is asking the model for.
_titling: set = set()

DEADLINE_DETAIL = "The assistant took too long to answer. Please try again."
# Backoff of the final save while the database is down (see ReplyRun._save_final).
FINAL_SAVE_FIRST_PAUSE = 0.1
# The message that ends a reply's text answerer, and how long it may take to stop.
STOP_ANSWERING = "reply.text_stop"
ANSWERER_STOP_SECONDS = 2.0
FINAL_SAVE_MAX_PAUSE = 2.0


@dataclass(frozen=True)
class ReplyDelta:
    content: str


@dataclass(frozen=True)
class ReplyFinished:
    """The reply's final row; ``error`` says why when it ended ``failed``."""

    message: Message | None
    error: ChatError | None = None


ReplyEvent = ReplyDelta | ReplyFinished


def stop_key(reply_id) -> str:
    return f"reply-stop:{reply_id}"


class ReplyRun:
    """One reply being generated in this process."""

    def __init__(self, turn: Turn, options: llm.GenerationOptions | None = None) -> None:
        self.turn = turn
        self.options = options
        self.end: llm.StreamEnd | None = None  # the model's usage and finish reason
        # A send refused by moderation raised before its turn is answered: this one has a reply.
        assert turn.reply is not None
        self.reply_id = str(turn.reply.pk)
        self.user_id = turn.session.user_id
        self.pieces: list[str] = []
        self.finished: ReplyFinished | None = None
        self._subscribers: set[asyncio.Event] = set()
        self._cancel_requested = False
        self._model: ModelEntry | None = None  # who answers (its title too)
        self._unpublished = asyncio.Event()
        self._published = 0
        # Characters in ``pieces`` and in ``pieces[:_published]``: the offsets of deltas.
        self._length = 0
        self._published_length = 0
        self._answer_channel: str | None = None
        self._answering_over = False
        self._relay_over = False
        self._finished_event = asyncio.Event()
        self.task: asyncio.Task | None = None
        # Kept by the process's saver (_save_all_periodically).
        self.saved = ""
        self.idle = 0.0
        # Loop times of the upstream request, its first token and its last (usage figures).
        self._requested_at: float | None = None
        self._first_token_at: float | None = None
        self._last_token_at: float | None = None

    @property
    def content(self) -> str:
        return "".join(self.pieces)

    async def events(self, keepalive: float | None = None) -> AsyncIterator[ReplyEvent | None]:
        """What has streamed so far as one delta, then new text as it comes, then the end.

        Text that arrives while the subscriber is busy sending is merged into its next
        delta, so a slow client gets fewer, larger events instead of falling behind, and a
        burst of tokens costs one event. With ``keepalive``, ``None`` is yielded whenever
        that many seconds pass without news.
        """
        changed = asyncio.Event()
        changed.set()
        self._subscribers.add(changed)
        sent = 0
        try:
            while True:
                if not changed.is_set():
                    try:
                        async with asyncio.timeout(keepalive):
                            await changed.wait()
                    except TimeoutError:
                        yield None
                        continue
                changed.clear()
                # Read before yielding: text that arrives while the subscriber holds a
                # delta must go out before the end does.
                finished = self.finished
                if len(self.pieces) > sent:
                    text = "".join(self.pieces[sent:])
                    sent = len(self.pieces)
                    yield ReplyDelta(text)
                if finished is not None:
                    yield finished
                    return
        finally:
            self._subscribers.discard(changed)

    async def result(self) -> ReplyFinished:
        """Wait for the reply to end (not for the title that may follow); a waiter that is
        cancelled does not cancel the reply."""
        await self._finished_event.wait()
        # Set before the event is (_run's end).
        assert self.finished is not None
        return self.finished

    def cancel(self) -> None:
        """Stop: close the upstream request and keep the partial reply as cancelled."""
        if self.task is not None and not self.task.done():
            self._cancel_requested = True
            self.task.cancel()

    def _notify(self) -> None:
        for changed in self._subscribers:
            changed.set()

    async def _run(self) -> None:
        publisher = asyncio.create_task(self._publish_deltas())
        answerer = asyncio.create_task(self._answer_text_requests())
        end: llm.StreamEnd | None = None
        error: ChatError | None = None
        status = Message.Status.COMPLETE
        try:
            context = self.turn.context
            if context is None:
                context = await run_db(services.prepare_context, self.turn)
            self._model = context.model
            self._requested_at = asyncio.get_running_loop().time()
            # One deadline for the whole call: the SDK's timeout applies per attempt and
            # per silent gap, so a hanging upstream would otherwise hold the client for
            # minutes.
            async with (
                asyncio.timeout(settings.CHATBOT_LLM_DEADLINE),
                aclosing(
                    llm.stream(context.messages, model=context.model, options=self.options)
                ) as stream,
            ):
                async for event in stream:
                    if self._cancel_requested:
                        raise asyncio.CancelledError
                    if isinstance(event, llm.TextDelta):
                        self._token_arrived()
                        self.pieces.append(event.content)
                        self._length += len(event.content)
                        self._notify()
                        if events.may_have_listeners(self.user_id):
                            self._unpublished.set()
                        else:
                            # No tab to tell (an API client): skip waking the publisher.
                            # A tab that opens later asks for the text so far.
                            self._published = len(self.pieces)
                            self._published_length = self._length
                    else:
                        end = self.end = event
        except TimeoutError:
            logger.warning(
                "reply %s passed CHATBOT_LLM_DEADLINE (%ss)",
                self.reply_id,
                settings.CHATBOT_LLM_DEADLINE,
            )
            error, status = LLMUnavailable(DEADLINE_DETAIL), Message.Status.FAILED
        except ChatError as exc:
            error, status = exc, Message.Status.FAILED
        except asyncio.CancelledError:
            if self._cancel_requested:
                status = Message.Status.CANCELLED
            else:
                error = LLMUnavailable("The server stopped while answering.")
                status = Message.Status.FAILED
        finally:
            # Not cancelled: channels-redis can swallow a cancellation inside group_send.
            self._relay_over = True
            self._unpublished.set()
        await asyncio.gather(publisher, return_exceptions=True)
        try:
            await self._finish(status, end, error)
        finally:
            await self._stop_answering(answerer)
            if self.finished is None:
                # Saving the end failed (the database is down): still release every waiter.
                logger.error("reply %s could not be finished", self.reply_id)
                self.finished = ReplyFinished(message=None, error=StorageUnavailable())
                self._finished_event.set()
                self._notify()

    async def _publish_deltas(self) -> None:
        """Send new text to the user's tabs, coalescing pieces while a send is under way,
        so a slow channel layer (Redis) never holds up the relay to local subscribers."""
        while not self._relay_over:
            await self._unpublished.wait()
            await self._flush_deltas()
        await self._flush_deltas()

    async def _flush_deltas(self) -> None:
        self._unpublished.clear()
        pending = self.pieces[self._published :]
        if not pending:
            return
        content = "".join(pending)
        offset = self._published_length
        self._published += len(pending)
        self._published_length += len(content)
        await events.publish(
            self.user_id,
            payloads.delta_event(
                session_id=self.turn.session.pk,
                message_id=self.reply_id,
                content=content,
                offset=offset,
            ),
        )

    async def _stop_answering(self, answerer: asyncio.Task) -> None:
        """End the text answerer with a message rather than a cancellation: channels-redis
        receives for all of a process's channels in one shared loop, and a receive cancelled
        there can drop an event meant for another channel (a tab's title or reply)."""
        self._answering_over = True
        layer = get_channel_layer()
        if self._answer_channel is not None and layer is not None:
            with contextlib.suppress(RedisError, OSError, ChannelFull):
                await layer.send(self._answer_channel, {"type": STOP_ANSWERING})
        try:
            await asyncio.wait_for(asyncio.shield(answerer), ANSWERER_STOP_SECONDS)
        except TimeoutError:
            answerer.cancel()

    async def _answer_text_requests(self) -> None:
        """Send the text so far to each tab that joins while the reply streams (a reload,
        a reconnected socket), from whichever process it is in (``events.ask_for_reply_text``);
        its later deltas carry offsets, so the tab skips what it has and misses nothing."""
        layer = get_channel_layer()
        if layer is None:
            return
        group = events.reply_group(self.reply_id)
        channel = self._answer_channel = await layer.new_channel()
        try:
            await layer.group_add(group, channel)
            while not self._answering_over:
                request = await layer.receive(channel)
                if request.get("type") == STOP_ANSWERING:
                    break
                answer = payloads.delta_event(
                    session_id=self.turn.session.pk,
                    message_id=self.reply_id,
                    content=self.content,
                    offset=0,
                )
                await layer.send(request["replyTo"], answer)
        except (RedisError, OSError, ChannelFull) as exc:
            logger.warning("reply %s cannot answer for its text: %s", self.reply_id, exc)
        finally:
            with contextlib.suppress(RedisError, OSError):
                await layer.group_discard(group, channel)

    def _token_arrived(self) -> None:
        now = asyncio.get_running_loop().time()
        if self._first_token_at is None:
            self._first_token_at = now
        self._last_token_at = now

    def _elapsed_ms(self, moment: float | None) -> int | None:
        """Milliseconds from the upstream request to ``moment`` (None if it never came)."""
        if moment is None or self._requested_at is None:
            return None
        return round((moment - self._requested_at) * 1000)

    async def _finish(self, status: str, end: llm.StreamEnd | None, error: ChatError | None):
        message = await self._save_final(
            reply=self.turn.reply,
            content=self.content,
            status=status,
            model=end.model if end else "",
            prompt_tokens=end.prompt_tokens if end else None,
            completion_tokens=end.completion_tokens if end else None,
            cached_tokens=end.cached_tokens if end else None,
            first_token_ms=self._elapsed_ms(self._first_token_at),
            total_ms=self._elapsed_ms(self._last_token_at),
            reservation=self.turn.reservation,
        )
        self.finished = ReplyFinished(message=message, error=error)
        self._finished_event.set()
        self._notify()
        if message is not None:
            await events.publish(self.user_id, payloads.reply_event(message, error=error))
            if status == Message.Status.COMPLETE and not self.turn.session.title:
                await self._give_title()

    async def _save_final(self, **fields) -> Message | None:
        """``finish_reply``, retried with backoff for ``CHATBOT_FINAL_SAVE_RETRY`` seconds
        while the database is unreachable: the whole text is in memory, and a restart of
        the database must not leave a finished reply ``streaming`` and empty."""
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + settings.CHATBOT_FINAL_SAVE_RETRY
        pause = FINAL_SAVE_FIRST_PAUSE
        while True:
            try:
                return await run_db(reply_storage.finish_reply, **fields)
            except OUTAGES:
                if loop.time() + pause > give_up_at:
                    logger.exception(
                        "reply %s: the final save failed for %ss (database unreachable): "
                        "it keeps the text saved before the outage, the stale sweep marks "
                        "it failed, and the %d characters held in memory are lost",
                        self.reply_id,
                        settings.CHATBOT_FINAL_SAVE_RETRY,
                        len(fields["content"]),
                    )
                    raise
                logger.warning(
                    "reply %s: the database is unreachable; retrying the final save in %.1fs",
                    self.reply_id,
                    pause,
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, FINAL_SAVE_MAX_PAUSE)

    async def _give_title(self) -> None:
        session_id = self.turn.session.pk
        # A quick next turn may end while this conversation's first title is still being
        # asked for, or after it was stored (the turn read its session before): one model
        # call is enough. A turn that created its conversation read it as it is.
        if session_id in _titling:
            return
        if not self.turn.created_session and not await run_db(
            titles.is_untitled, session_id=session_id
        ):
            return
        _titling.add(session_id)
        try:
            await self._ask_title(session_id)
        finally:
            _titling.discard(session_id)

    async def _ask_title(self, session_id) -> None:
        first_message = self.turn.user_message.content
        try:
            title = titles.tidy_generated_title(
                await llm.generate_title(first_message, model=self._model)
            )
        except ChatError:
            title = ""
        title = title or titles.fallback_title(first_message)
        if await run_db(titles.set_generated_title, session_id=session_id, title=title):
            await events.publish(
                self.user_id, payloads.title_event(session_id=session_id, title=title)
            )


def start_reply(turn: Turn, *, options: llm.GenerationOptions | None = None) -> ReplyRun:
    """Start generating ``turn.reply`` in the background (with the client's sampling
    ``options``, if any) and return its run."""
    run = ReplyRun(turn, options)
    loop = asyncio.get_running_loop()
    # A fresh context: the task must not inherit the request's thread-sensitive context,
    # whose executor is shut down when the request ends.
    run.task = loop.create_task(run._run(), context=contextvars.Context())
    _runs[run.reply_id] = run
    run.task.add_done_callback(lambda _task: _runs.pop(run.reply_id, None))
    if loop not in _savers:
        _savers[loop] = loop.create_task(
            _save_all_periodically(loop), context=contextvars.Context()
        )
    return run


_savers: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}


async def _save_all_periodically(loop: asyncio.AbstractEventLoop) -> None:
    """Every ``CHATBOT_STREAM_SAVE_INTERVAL``, write the grown text of every reply this loop
    runs, all in one database call (a reply idle for ``CHATBOT_STREAM_HEARTBEAT`` is written
    anyway: the heartbeat that tells other processes its writer is alive). With Redis, also
    read the stop flags set by other processes. Ends when the loop has no reply left; the
    next reply starts it again."""
    interval = settings.CHATBOT_STREAM_SAVE_INTERVAL
    try:
        while True:
            await asyncio.sleep(interval)
            # A copy first: a server thread's loop may add runs while this one reads.
            runs = [
                run
                for run in list(_runs.values())
                if run.task is not None and run.task.get_loop() is loop
            ]
            if not runs:
                return
            live = [run for run in runs if not run._relay_over]
            due: dict[ReplyRun, str] = {}
            for run in live:
                run.idle += interval
                content = run.content
                if content != run.saved or run.idle >= settings.CHATBOT_STREAM_HEARTBEAT:
                    due[run] = content
            try:
                if due:
                    progress = {run.reply_id: content for run, content in due.items()}
                    await run_db(reply_storage.save_reply_progress, progress)
                    for run, content in due.items():
                        run.saved, run.idle = content, 0.0
                if settings.REDIS_URL and live:
                    keys = {stop_key(run.reply_id): run for run in live}
                    for key in await run_db(cache.get_many, list(keys)):
                        keys[key].cancel()
            except Exception:  # the database or Redis is down: the next round tries again
                logger.warning("could not save the progress of %d replies", len(due), exc_info=True)
    finally:
        if _savers.get(loop) is asyncio.current_task():
            del _savers[loop]


def local_run(reply_id) -> ReplyRun | None:
    return _runs.get(str(reply_id))


class StoredReply:
    """A reply being (or already) written by another request or process, followed through
    the database: what an Idempotency-Key retry answers with."""

    POLL_SECONDS = 0.25

    def __init__(self, reply_id) -> None:
        self.reply_id = str(reply_id)

    async def result(self) -> ReplyFinished:
        async for event in self.events():
            if isinstance(event, ReplyFinished):
                return event
        raise AssertionError("events() ends with ReplyFinished")

    async def events(self, keepalive: float | None = None) -> AsyncIterator[ReplyEvent | None]:
        """The reply once it is over (polled); ``None`` every ``keepalive`` seconds until."""
        waited = 0.0
        while True:
            await run_db(reply_storage.fail_stale_replies, reply_id=self.reply_id)
            message = await run_db(Message.objects.filter(pk=self.reply_id).first)
            if message is None or message.status != Message.Status.STREAMING:
                break
            await asyncio.sleep(self.POLL_SECONDS)
            waited += self.POLL_SECONDS
            if keepalive is not None and waited >= keepalive:
                waited = 0.0
                yield None
        error = None
        if message is not None and message.status == Message.Status.FAILED:
            error = LLMUnavailable()
        if message is not None and message.content:
            yield ReplyDelta(message.content)
        yield ReplyFinished(message=message, error=error)


def follow_reply(turn: Turn) -> ReplyRun | StoredReply:
    """The reply of a turn stored earlier: its live run here, or its row."""
    # A send refused by moderation stored no turn to retry: this one has a reply.
    assert turn.reply is not None
    return local_run(turn.reply.pk) or StoredReply(turn.reply.pk)


async def stop_reply(reply_id) -> None:
    """Stop a reply wherever it is being generated (ownership is checked by the caller)."""
    run = local_run(reply_id)
    if run is not None:
        run.cancel()
        return
    # Another process runs it: it reads this flag from the shared cache on its next save.
    await run_db(cache.set, stop_key(reply_id), True, 600)


async def stop_all_local(reason: str = "shutdown") -> None:
    """End every reply of this process as failed (on shutdown), keeping its text."""
    runs = [(run, run.task) for run in list(_runs.values()) if run.task is not None]
    for _, task in runs:
        if not task.done():
            task.cancel()
    for run, task in runs:
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=5)
        except (asyncio.CancelledError, TimeoutError):
            logger.warning("reply %s did not finish cleanly on %s", run.reply_id, reason)
