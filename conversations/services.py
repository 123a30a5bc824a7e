"""Every write to conversations: views, the API, the WebSocket consumer and admin call these.

Sending is split in two so that nothing is lost: ``begin_turn`` commits the user's message
and an empty reply in status ``streaming`` before the model is called; ``start_reply``
(in ``conversations.replies``) then streams the reply into that row in the background,
where it keeps going when the client goes away.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connections, router, transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from conversations import events, limits, llm, selectors
from conversations.db import run_db
from conversations.errors import (
    ChatSuspended,
    InvalidInput,
    MessageBlocked,
    ModerationUnavailable,
    NothingToRegenerate,
    ReplyInProgress,
    SessionNotFound,
)
from conversations.models import ChatSession, IdempotencyKey, Message

logger = logging.getLogger(__name__)

TITLE_MAX_CHARS = 255
IDEMPOTENCY_WINDOW = timedelta(hours=24)
FALLBACK_TITLE_WORDS = 6


@dataclass(frozen=True)
class Turn:
    """A committed user message and the reply row that will receive the model's answer."""

    session: ChatSession
    user_message: Message
    reply: Message | None
    created_session: bool = False
    replayed: bool = False  # an Idempotency-Key retry: this turn was stored before
    # What to send the model, built on the same trip to the database as the turn itself.
    context: llm.Context | None = None
    # The reply's worst case held against the daily token quota until the reply ends.
    reservation: limits.Reservation | None = None


@dataclass(frozen=True)
class Moderation:
    flagged: bool = False
    categories: tuple[str, ...] = ()
    failed: bool = False


# --- Validation -------------------------------------------------------------------------


def _has_bad_characters(text: str) -> bool:
    # NUL is rejected by PostgreSQL; lone surrogates cannot be stored as UTF-8. Other
    # control characters except tab and newlines have no place in a chat message.
    for char in text:
        if char in "\t\n\r":
            continue
        category = unicodedata.category(char)
        if category == "Cc" or category == "Cs":
            return True
    return False


def clean_message(text) -> str:
    """The user's message as it will be stored, or ``InvalidInput`` naming the field."""
    if not isinstance(text, str):
        raise InvalidInput("The message must be text.", field="message")
    if not text.strip():
        raise InvalidInput("The message cannot be empty.", field="message")
    limit = settings.CHATBOT_MAX_MESSAGE_CHARS
    if len(text) > limit:
        raise InvalidInput(
            f"The message is too long: {len(text)} characters, the limit is {limit}.",
            field="message",
        )
    if _has_bad_characters(text):
        raise InvalidInput("The message contains characters that are not allowed.", field="message")
    return text


def clean_title(title) -> str:
    """A session title of 1 to 255 characters, or ``InvalidInput``."""
    if not isinstance(title, str):
        raise InvalidInput("The title must be text.", field="title")
    title = title.strip()
    if not title:
        raise InvalidInput("The title cannot be empty.", field="title")
    if len(title) > TITLE_MAX_CHARS:
        raise InvalidInput(f"The title can be at most {TITLE_MAX_CHARS} characters.", field="title")
    if _has_bad_characters(title):
        raise InvalidInput("The title contains characters that are not allowed.", field="title")
    return title


def _ensure_can_send(user) -> None:
    if getattr(user, "chat_suspended", False):
        raise ChatSuspended()


# --- Sending ----------------------------------------------------------------------------


def _next_sequence(session: ChatSession) -> int:
    last = session.messages.aggregate(last=Max("sequence"))["last"]
    return (last or 0) + 1


@contextmanager
def _released_on_error(reservation: Callable[[], limits.Reservation | None]):
    """Give back a quota reservation made in a transaction that then failed (even at
    COMMIT): nothing was stored, so nothing will be spent."""
    try:
        yield
    except BaseException:
        limits.settle_tokens(reservation(), spent=0)
        raise


def _locked_session(*, user, session_id) -> ChatSession:
    """The user's session, locked against concurrent sends (row lock on PostgreSQL; on
    SQLite the IMMEDIATE transaction already holds the database's write lock)."""
    try:
        return ChatSession.objects.select_for_update().get(
            id=selectors.parse_uuid(session_id), user=user
        )
    except ChatSession.DoesNotExist:
        raise SessionNotFound() from None


def _system_prompt(*, user, session: ChatSession | None) -> str:
    return llm.system_prompt_for(
        user_instructions=user.custom_instructions,
        chat_instructions=session.instructions if session else "",
    )


def _first_context(*, user, session: ChatSession | None, text: str, tokens: int) -> llm.Context:
    """The context of a conversation's first message (no history to read); refuses a
    message that cannot fit with the system prompt."""
    return llm.build_context(
        system_prompt=_system_prompt(user=user, session=session),
        history=[llm.ContextMessage(role="user", content=text, tokens=tokens)],
        budget=settings.CHATBOT_CONTEXT_TOKENS,
    )


def clean_idempotency_key(key) -> str | None:
    if key is None:
        return None
    if not isinstance(key, str) or not 1 <= len(key) <= 255 or not key.isprintable():
        raise InvalidInput(
            "Idempotency-Key must be 1 to 255 printable characters.", field="Idempotency-Key"
        )
    return key


def replayed_turn(*, user, key: str | None) -> Turn | None:
    """The turn first stored under ``key`` by ``user`` in the last 24 hours, if any."""
    if key is None:
        return None
    since = timezone.now() - IDEMPOTENCY_WINDOW
    record = (
        IdempotencyKey.objects.filter(user=user, key=key, created_at__gte=since)
        .select_related("user_message__session")
        .first()
    )
    if record is None:
        return None
    user_message = record.user_message
    reply = (
        Message.objects.filter(
            session_id=user_message.session_id,
            role=Message.Role.ASSISTANT,
            sequence__gt=user_message.sequence,
        )
        .order_by("sequence")
        .first()
    )
    if reply is None:
        raise MessageBlocked()  # the first send was refused by moderation
    return Turn(session=user_message.session, user_message=user_message, reply=reply, replayed=True)


def begin_turn_sync(
    *,
    user,
    text: str,
    session_id=None,
    moderation: Moderation = Moderation(),
    idempotency_key: str | None = None,
) -> Turn:
    """Commit the user's message and, unless moderation blocks it, an empty reply."""
    try:
        return _begin_turn_sync(
            user=user,
            text=text,
            session_id=session_id,
            moderation=moderation,
            idempotency_key=idempotency_key,
        )
    except IntegrityError:
        # Another request with the same Idempotency-Key committed first: answer with its turn.
        replay = replayed_turn(user=user, key=idempotency_key)
        if replay is None:
            raise
        return replay


def _begin_turn_sync(
    *, user, text: str, session_id, moderation: Moderation, idempotency_key: str | None
) -> Turn:
    blocked = moderation.flagged and settings.CHATBOT_MODERATION == "block"
    unchecked_block = moderation.failed and settings.CHATBOT_MODERATION == "block"
    tokens = llm.count_tokens(text)
    now = timezone.now()
    reservation = None
    with _released_on_error(lambda: reservation), transaction.atomic():
        replay = replayed_turn(user=user, key=idempotency_key)
        if replay is not None:
            return replay
        if session_id is None:
            context = _first_context(user=user, session=None, text=text, tokens=tokens)
            session = ChatSession.objects.create(user=user, created_at=now, updated_at=now)
            created = True
            sequence = 1
        else:
            session = _locked_session(user=user, session_id=session_id)
            _first_context(user=user, session=session, text=text, tokens=tokens)
            context = None  # read below, with the history
            created = False
            sequence = _next_sequence(session)
        limits.check_send_rate(user.pk)
        user_message = Message(
            session=session,
            sequence=sequence,
            role=Message.Role.USER,
            content=text,
            token_count=tokens,
            flagged=moderation.flagged,
            flag_categories=list(moderation.categories),
            moderation_failed=moderation.failed,
            created_at=now,
            updated_at=now,
        )
        reply = None
        if not (blocked or unchecked_block):
            reply = Message(
                session=session,
                sequence=sequence + 1,
                role=Message.Role.ASSISTANT,
                status=Message.Status.STREAMING,
                model=session.model or llm.default_model(),
                created_at=now,
                updated_at=now,
            )
        # One INSERT for both rows.
        Message.objects.bulk_create([m for m in (user_message, reply) if m is not None])
        if idempotency_key is not None:
            IdempotencyKey.objects.filter(
                user=user, key=idempotency_key, created_at__lt=now - IDEMPOTENCY_WINDOW
            ).delete()
            IdempotencyKey.objects.create(
                user=user, key=idempotency_key, user_message=user_message, created_at=now
            )
        if moderation.flagged:
            ChatSession.objects.filter(pk=session.pk).update(flagged=True)
        if not created:
            ChatSession.objects.filter(pk=session.pk).update(updated_at=now)
            session.updated_at = now
        if reply is not None:
            if context is None:
                # Read inside the transaction: the quota reservation needs its size, and a
                # refusal must leave nothing stored.
                context = _history_context(
                    user=user, session=session, before_sequence=reply.sequence
                )
            reservation = limits.reserve_tokens(user.pk, prompt_tokens=context.prompt_tokens)
    session.user = user  # the same row: spares a query wherever the turn goes next
    turn = Turn(
        session=session,
        user_message=user_message,
        reply=reply,
        created_session=created,
        context=context,
        reservation=reservation,
    )
    if blocked:
        raise MessageBlocked()
    if unchecked_block:
        raise ModerationUnavailable()
    return turn


async def _moderate(text: str) -> Moderation:
    if settings.CHATBOT_MODERATION == "off":
        return Moderation()
    try:
        result = await llm.moderate(text)
    except ModerationUnavailable:
        logger.warning("moderation check failed; mode is %s", settings.CHATBOT_MODERATION)
        return Moderation(failed=True)
    return Moderation(flagged=result.flagged, categories=tuple(result.categories))


def _checked_send(*, user, text, key) -> tuple[str, str | None]:
    """The message and Idempotency-Key as stored, once the user may send at all."""
    text = clean_message(text)
    key = clean_idempotency_key(key)
    _ensure_can_send(user)
    return text, key


def needs_moderation() -> bool:
    """Whether a new message waits for the moderation call (an await) before it is stored."""
    return settings.CHATBOT_MODERATION != "off"


def begin_turn_now(*, user, text, session_id=None, key=None) -> Turn:
    """``begin_turn`` as one synchronous step, for a caller already on a database thread
    (a send's authentication runs there too, so the send costs one trip instead of two).
    Only when ``needs_moderation()`` is false: the moderation call is async."""
    if needs_moderation():
        raise RuntimeError("begin_turn_now cannot call the moderation model; use begin_turn")
    text, key = _checked_send(user=user, text=text, key=key)
    # begin_turn_sync answers an Idempotency-Key replay from inside its transaction.
    return begin_turn_sync(user=user, text=text, session_id=session_id, idempotency_key=key)


async def begin_turn(*, user, text, session_id=None, idempotency_key=None) -> Turn:
    """Validate and commit a new user message (starting a session when ``session_id`` is
    None) with an empty reply row, ready for ``replies.start_reply``.

    With an ``idempotency_key`` already used by this user in the last 24 hours, nothing is
    stored and the first turn comes back with ``replayed=True``.
    """
    if not needs_moderation():
        return await run_db(
            begin_turn_now, user=user, text=text, session_id=session_id, key=idempotency_key
        )
    text, idempotency_key = _checked_send(user=user, text=text, key=idempotency_key)
    if idempotency_key is not None:
        replay = await run_db(replayed_turn, user=user, key=idempotency_key)
        if replay is not None:
            return replay
    if session_id is not None:
        # A missing session answers 404 before the moderation call, not after it.
        await run_db(selectors.get_session, user=user, session_id=session_id)
    moderation = await _moderate(text)
    return await run_db(
        begin_turn_sync,
        user=user,
        text=text,
        session_id=session_id,
        moderation=moderation,
        idempotency_key=idempotency_key,
    )


def begin_regenerate_sync(*, user, session_id) -> Turn:
    """Replace the answer to the last user message with a new, empty reply row."""
    reservation = None
    with _released_on_error(lambda: reservation), transaction.atomic():
        session = _locked_session(user=user, session_id=session_id)
        fail_stale_replies(session_id=session.pk)
        if session.messages.filter(status=Message.Status.STREAMING).exists():
            raise ReplyInProgress()
        last_user = (
            session.messages.filter(role=Message.Role.USER, hidden=False)
            .order_by("-sequence")
            .first()
        )
        # In block mode a refused message, flagged or never checked, must not reach the model.
        refused = last_user is not None and (last_user.flagged or last_user.moderation_failed)
        if last_user is None or (refused and settings.CHATBOT_MODERATION == "block"):
            raise NothingToRegenerate()
        limits.check_send_rate(user.pk)
        # The old answer goes; the new one takes its place so sequences stay gapless.
        session.messages.filter(
            role=Message.Role.ASSISTANT, sequence__gt=last_user.sequence
        ).delete()
        now = timezone.now()
        reply = Message.objects.create(
            session=session,
            sequence=last_user.sequence + 1,
            role=Message.Role.ASSISTANT,
            status=Message.Status.STREAMING,
            model=session.model or llm.default_model(),
            created_at=now,
            updated_at=now,
        )
        ChatSession.objects.filter(pk=session.pk).update(updated_at=now)
        session.updated_at = now
        context = _history_context(user=user, session=session, before_sequence=reply.sequence)
        reservation = limits.reserve_tokens(user.pk, prompt_tokens=context.prompt_tokens)
    session.user = user
    return Turn(
        session=session,
        user_message=last_user,
        reply=reply,
        context=context,
        reservation=reservation,
    )


async def begin_regenerate(*, user, session_id) -> Turn:
    _ensure_can_send(user)
    return await run_db(begin_regenerate_sync, user=user, session_id=session_id)


def _history_context(*, user, session: ChatSession, before_sequence: int) -> llm.Context:
    system = _system_prompt(user=user, session=session)
    return llm.build_context(
        system_prompt=system,
        history=selectors.context_history(
            session_id=session.pk,
            before_sequence=before_sequence,
            budget=settings.CHATBOT_CONTEXT_TOKENS - llm.prompt_tokens(system),
        ),
        budget=settings.CHATBOT_CONTEXT_TOKENS,
    )


def prepare_context(turn: Turn) -> llm.Context:
    """The messages to send for ``turn``: system prompt, then the newest turns that fit."""
    return _history_context(
        user=turn.session.user, session=turn.session, before_sequence=turn.reply.sequence
    )


def save_reply_progress(progress: Mapping[Any, str]) -> None:
    """Write the text of streaming replies as it has grown so far, ``{reply id: text}``
    (also their writer's heartbeat). A reply that is no longer streaming is left alone.

    Every reply of a process is saved through here every ``CHATBOT_STREAM_SAVE_INTERVAL``,
    together: one prepared UPDATE run for all of them in one transaction. Written in SQL
    because the ORM has no batched update with a condition per row except ``bulk_update``'s
    CASE, whose compilation grows with the batch: 500 replies saved one ``update()`` each
    cost 300 ms of CPU a second.
    """
    if not progress:
        return
    connection = connections[router.db_for_write(Message)]
    quote = connection.ops.quote_name
    field = Message._meta.get_field
    sql = (
        f"UPDATE {quote(Message._meta.db_table)} "
        f"SET {quote(field('content').column)} = %s, {quote(field('updated_at').column)} = %s "
        f"WHERE {quote(field('id').column)} = %s AND {quote(field('status').column)} = %s"
    )
    now = field("updated_at").get_db_prep_value(timezone.now(), connection)
    key, streaming = field("id"), Message.Status.STREAMING
    # In id order: the order delete_session locks them in, so the two never deadlock.
    rows = [
        (content, now, key.get_db_prep_value(reply_id, connection), streaming)
        for reply_id, content in sorted(progress.items(), key=lambda item: str(item[0]))
    ]
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def finish_reply(
    *,
    reply: Message,
    content: str,
    status: str,
    model: str = "",
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    reservation: limits.Reservation | None = None,
) -> Message | None:
    """Store the reply's final text and status, settle its quota reservation, and return
    the reply as stored; None if its session was deleted meanwhile."""
    now = timezone.now()
    fields = {
        "content": content,
        "status": status,
        "token_count": llm.count_tokens(content),
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "updated_at": now,
    }
    if model:
        fields["model"] = model
    with transaction.atomic():
        # The session row first, as delete_session and sends lock it: the same order
        # everywhere, so a delete and the end of its reply never deadlock.
        ChatSession.objects.filter(pk=reply.session_id).update(updated_at=now)
        updated = Message.objects.filter(pk=reply.pk).update(**fields)
        # Only the moderator's flag is read back: a reply hidden while it streamed must not
        # come back in full in the final event.
        if updated:
            reply.hidden = Message.objects.values_list("hidden", flat=True).get(pk=reply.pk)
    spent = (prompt_tokens or 0) + (completion_tokens or 0) or fields["token_count"]
    limits.settle_tokens(reservation, spent=spent)
    if not updated:
        return None
    for name, value in fields.items():
        setattr(reply, name, value)
    return reply


def fail_stale_replies(*, session_id=None, reply_id=None) -> int:
    """Mark replies whose writer stopped beating (a process died) as failed."""
    cutoff = timezone.now() - timedelta(seconds=settings.CHATBOT_STREAM_STALE_AFTER)
    stale = Message.objects.filter(status=Message.Status.STREAMING, updated_at__lt=cutoff)
    if session_id is not None:
        stale = stale.filter(session_id=session_id)
    if reply_id is not None:
        stale = stale.filter(pk=reply_id)
    return stale.update(status=Message.Status.FAILED)


# --- Titles, renames, deletes -----------------------------------------------------------


def fallback_title(text: str) -> str:
    words = text.split()
    title = " ".join(words[:FALLBACK_TITLE_WORDS])
    if len(words) > FALLBACK_TITLE_WORDS:
        title += "…"
    return title[:TITLE_MAX_CHARS] or "New chat"


def tidy_generated_title(raw: str) -> str:
    title = " ".join(raw.split()).strip().strip("\"'“”‘’*#").rstrip(".").strip()
    return title[:TITLE_MAX_CHARS]


def set_generated_title(*, session_id, title: str) -> bool:
    """Give an untitled session its generated title; never overwrite a rename."""
    return bool(ChatSession.objects.filter(pk=session_id, title="").update(title=title))


def rename_session(*, user, session_id, title) -> ChatSession:
    title = clean_title(title)
    session = selectors.get_session(user=user, session_id=session_id)
    session.title = title
    session.save(update_fields=["title"])
    events.publish_sync(
        user.pk, {"type": "chat.title", "sessionId": str(session.pk), "title": title}
    )
    return session


def delete_session(*, user, session_id) -> None:
    """Delete a conversation and its messages; a send or regenerate racing it waits for it
    (and then finds no conversation) or goes first (and its rows go too)."""
    with transaction.atomic():
        session = _locked_session(user=user, session_id=session_id)
        _delete_sessions(ChatSession.objects.filter(pk=session.pk))
    events.publish_sync(user.pk, {"type": "chat.session_deleted", "sessionId": str(session_id)})


def delete_all_sessions(*, user) -> None:
    """Delete every conversation of ``user`` as ``delete_session`` does (account deletion);
    call it inside the caller's transaction."""
    _delete_sessions(ChatSession.objects.filter(user=user))


def _delete_sessions(sessions: QuerySet[ChatSession]) -> None:
    # Sessions first (sends and regenerates lock them too, so none adds a message until
    # this commits), then their messages in id order (save_reply_progress's order): the
    # collector below then reads every row there is, and no lock order is ever reversed.
    list(sessions.select_for_update().order_by("pk").values_list("pk", flat=True))
    messages = Message.objects.filter(session__in=sessions).select_for_update(of=("self",))
    list(messages.order_by("pk").values_list("pk", flat=True))
    sessions.delete()
