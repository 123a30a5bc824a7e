"""Every write to conversations that a user asks for: views, the API, the WebSocket consumer
and admin call these. (Replies are stored by ``reply_storage``, titles by ``titles``.)

A send has one door with Zulip's check/do shape, whichever transport calls it:

- ``check_send`` checks it (the message, the Idempotency-Key, the user's suspension, a
  replay, the conversation) on a database thread, in the trip the caller makes anyway;
- ``finish_send`` awaits the automatic content check when one is configured;
- ``do_send`` stores it in one transaction: the user's message and an empty reply in status
  ``streaming`` (committed before the model is called, so nothing is lost), after the
  conversation's limits (``session_limits``) and the send rate and with the quota
  reservation, all taken under the conversation's lock.

With no content check to wait for, ``check_send`` calls ``do_send`` itself, so a send costs
one database trip; the caller never chooses. ``send_message`` is the whole door for a caller
that is not on a database thread. Regenerating has the same shape (``regenerate_reply``,
``check_regenerate``, ``do_regenerate``). ``replies.start_reply`` then streams the reply.

A conversation is a tree: a send continues the current leaf, an edit is a sibling of the
edited message, a regenerated reply a sibling of the old one (which is kept); each makes its
new branch current, and ``switch_branch`` chooses another.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, cast

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from attachments import attaching
from attachments import selectors as attachment_selectors
from attachments.attaching import Attached
from catalogue import selectors as catalogue
from catalogue.entries import ModelEntry
from conversations import (
    events,
    limits,
    llm,
    payloads,
    reply_storage,
    selectors,
    session_limits,
    titles,
)
from conversations.context import (
    Context,
    ContextMessage,
    build_context,
    count_tokens,
    room_for_files,
    system_prompt_for,
)
from conversations.context import prompt_tokens as system_prompt_tokens
from conversations.db import run_db
from conversations.errors import (
    ChatSuspended,
    MessageBlocked,
    ModerationUnavailable,
    NothingToRegenerate,
    ReplyInProgress,
    SessionNotFound,
)
from conversations.models import ChatSession, IdempotencyKey, Message
from conversations.validation import has_bad_characters
from core.errors import ChatError, InvalidInput

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

logger = logging.getLogger(__name__)

IDEMPOTENCY_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Turn:
    """A committed user message and the reply row that will receive the model's answer."""

    session: ChatSession
    user_message: Message
    reply: Message | None
    created_session: bool = False
    replayed: bool = False  # an Idempotency-Key retry: this turn was stored before
    # What to send the model, built on the same trip to the database as the turn itself.
    context: Context | None = None
    # The reply's worst case held against the daily token quota until the reply ends.
    reservation: limits.Reservation | None = None


@dataclass(frozen=True)
class ContentCheck:
    """The automatic content check of a user's message (the moderation endpoint)."""

    flagged: bool = False
    categories: tuple[str, ...] = ()
    failed: bool = False

    def refusal(self) -> ChatError | None:
        """Why the message gets no reply: in block mode, flagged or never checked."""
        if settings.CHATBOT_MODERATION != "block":
            return None
        if self.flagged:
            return MessageBlocked()
        if self.failed:
            return ModerationUnavailable()
        return None


@dataclass(frozen=True)
class CheckedSend:
    """A send ``check_send`` accepted: stored already (``turn``), or waiting for its
    content check."""

    user: Any
    text: str
    session_id: Any
    idempotency_key: str | None
    turn: Turn | None = None
    edit_message_id: Any = None
    model: str | None = None
    attachments: list | None = None  # file ids, checked again when stored
    images: tuple[str, ...] = ()  # the attached images as data URLs, for the content check


# --- Validation -------------------------------------------------------------------------


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
    if has_bad_characters(text):
        raise InvalidInput("The message contains characters that are not allowed.", field="message")
    return text


def clean_idempotency_key(key) -> str | None:
    if key is None:
        return None
    if not isinstance(key, str) or not 1 <= len(key) <= 255 or not key.isprintable():
        raise InvalidInput(
            "Idempotency-Key must be 1 to 255 printable characters.", field="Idempotency-Key"
        )
    return key


def _ensure_can_send(user) -> None:
    if getattr(user, "chat_suspended", False):
        raise ChatSuspended()


# --- Sending ----------------------------------------------------------------------------


async def send_message(
    *, user, text, session_id=None, idempotency_key=None, edit_message_id=None, attachments=None
) -> Turn:
    """Validate and commit a new user message (starting a session when ``session_id`` is
    None, or beside the user message ``edit_message_id``) with an empty reply row and the
    files ``attachments`` (ids of the user's files), ready for ``replies.start_reply``.

    With an ``idempotency_key`` already used by this user in the last 24 hours, nothing is
    stored and the first turn comes back with ``replayed=True``.
    """
    checked = await run_db(
        check_send,
        user=user,
        text=text,
        session_id=session_id,
        idempotency_key=idempotency_key,
        edit_message_id=edit_message_id,
        attachments=attachments,
    )
    return await finish_send(checked)


def check_send(
    *,
    user,
    text,
    session_id=None,
    idempotency_key=None,
    edit_message_id=None,
    model=None,
    attachments=None,
) -> CheckedSend:
    """Check a send on a database thread; with no content check to await, store it too.

    ``model`` (a catalogue id) starts a new conversation with it, or switches an existing
    one to it from this turn on; ``attachments`` are ids of the user's files."""
    text = clean_message(text)
    key = clean_idempotency_key(idempotency_key)
    _ensure_can_send(user)
    send = CheckedSend(
        user,
        text,
        session_id,
        key,
        edit_message_id=edit_message_id,
        model=model,
        attachments=attachments,
    )
    if settings.CHATBOT_MODERATION == "off":
        # do_send answers an Idempotency-Key replay from inside its transaction.
        return replace(send, turn=_do_checked_send(send))
    turn = replayed_turn(user=user, key=key)
    if turn is not None:
        return replace(send, turn=turn)
    # A missing session, message or file answers before the content check, not after it.
    attached = _check_before_content(send)
    return replace(send, images=tuple(attaching.data_url(image) for image in attached.images))


def _check_before_content(send: CheckedSend) -> Attached:
    """What ``do_send`` will check again under the conversation's lock, checked before the
    content check so that its refusals come first; the checked files."""
    user, session_id = send.user, send.session_id
    session = None
    if send.edit_message_id is not None:
        edited = _edited_message(user=user, session_id=session_id, message_id=send.edit_message_id)
        session = edited.session
    elif session_id is not None:
        session = selectors.get_session(user=user, session_id=session_id)
    if send.model is not None:
        model = catalogue.model_for(user=user, model_id=send.model)  # unknown: 400 now
    elif session is not None:
        model = catalogue.session_model(user=user, model_id=session.model)
    else:
        model = catalogue.model_for(user=user, model_id=None)
    return attaching.check_attachments(
        user=user, file_ids=send.attachments, accepts_images=model.vision
    )


def _do_checked_send(send: CheckedSend, content: ContentCheck | None = None) -> Turn:
    return do_send(
        user=send.user,
        text=send.text,
        session_id=send.session_id,
        idempotency_key=send.idempotency_key,
        edit_message_id=send.edit_message_id,
        model=send.model,
        attachments=send.attachments,
        content=content or ContentCheck(),
    )


async def finish_send(checked: CheckedSend) -> Turn:
    """The stored turn of a checked send: its content check, then ``do_send``."""
    if checked.turn is not None:
        return checked.turn
    content = await check_content(checked.text, images=checked.images)
    return await run_db(_do_checked_send, checked, content)


async def check_content(text: str, *, images: tuple[str, ...] = ()) -> ContentCheck:
    """The moderation endpoint's verdict on the message and its images (data URLs); a
    check that cannot run is marked failed."""
    if settings.CHATBOT_MODERATION == "off":
        return ContentCheck()
    try:
        result = await llm.moderate(text, images=images)
    except ModerationUnavailable:
        logger.warning("moderation check failed; mode is %s", settings.CHATBOT_MODERATION)
        return ContentCheck(failed=True)
    return ContentCheck(flagged=result.flagged, categories=tuple(result.categories))


def do_send(
    *,
    user,
    text: str,
    session_id=None,
    idempotency_key: str | None = None,
    edit_message_id=None,
    model: str | None = None,
    attachments=None,
    content: ContentCheck = ContentCheck(),
) -> Turn:
    """Commit the checked message with its files (``attachments``: ids of the user's) and,
    unless its content check refuses it, an empty reply; the new branch becomes current."""
    try:
        turn = _store_send(
            user=user,
            text=text,
            session_id=session_id,
            key=idempotency_key,
            edit_message_id=edit_message_id,
            model=model,
            file_ids=attachments,
            content=content,
        )
    except IntegrityError:
        # Another request with the same Idempotency-Key committed first: answer with its turn.
        replay = replayed_turn(user=user, key=idempotency_key)
        if replay is None:
            raise
        return replay
    refusal = None if turn.replayed else content.refusal()
    if refusal is not None:
        raise refusal  # the message is stored (for moderators), without a reply
    return turn


@dataclass(frozen=True)
class _Opened:
    """The conversation a send goes to, under its lock, with the message's checked files."""

    session: ChatSession
    created: bool
    message: ContextMessage  # the message being sent, its files' tokens counted in
    context: Context | None  # a new conversation's, already (it has no history to read)


def _store_send(
    *,
    user,
    text: str,
    session_id,
    key: str | None,
    edit_message_id,
    model: str | None,
    file_ids,
    content: ContentCheck,
) -> Turn:
    now = timezone.now()
    reservation = None
    with _released_on_error(lambda: reservation), transaction.atomic():
        replay = replayed_turn(user=user, key=key)
        if replay is not None:
            return replay
        edited = None
        if edit_message_id is not None:
            edited = _edited_message(user=user, session_id=session_id, message_id=edit_message_id)
            session_id = edited.session_id
        opened = _session_for_send(
            user=user, session_id=session_id, text=text, now=now, model_id=model, file_ids=file_ids
        )
        session, created, context = opened.session, opened.created, opened.context
        parent_id = _parent_for_send(session=session, created=created, edited=edited)
        session_limits.check_conversation_limits(session)
        limits.check_send_rate(user.pk)
        user_message, reply = _new_turn_rows(
            session=session,
            parent_id=parent_id,
            text=text,
            tokens=opened.message.tokens,
            content=content,
            now=now,
            first=created,
        )
        leaf = reply or user_message
        if created:
            _insert_session(session, leaf=leaf, flagged=content.flagged)
        Message.objects.bulk_create([m for m in (user_message, reply) if m is not None])
        _attach(user_message, opened.message.files)
        if key is not None:
            _remember_key(user=user, key=key, user_message=user_message, now=now)
        if not created:
            _touch_session(session, flagged=content.flagged, leaf=leaf, now=now)
        if reply is not None:
            # Read inside the transaction: the quota reservation needs its size, and a
            # refusal must leave nothing stored.
            context = context or _history_context(
                user=user, session=session, last_id=user_message.pk
            )
            reservation = limits.reserve_tokens(user.pk, prompt_tokens=context.prompt_tokens)
        # For the turn's payloads, built in async code that cannot query.
        _with_sibling_ids(user_message, reply, created=created)
    session.user = user  # the same row: spares a query wherever the turn goes next
    return Turn(
        session=session,
        user_message=user_message,
        reply=reply,
        created_session=created,
        context=context if reply is not None else None,
        reservation=reservation,
    )


def _with_sibling_ids(user_message: Message, reply: Message | None, *, created: bool) -> None:
    """Set the turn's ``sibling_ids`` and ratings (``selectors.with_sibling_ids``). The
    first messages of a new conversation are their parents' only children and unrated, so
    they need no query."""
    turn = [m for m in (user_message, reply) if m is not None]
    if not created:
        selectors.with_sibling_ids(turn)
        return
    for message in turn:
        message.sibling_ids = [str(message.pk)]
        # Not declared on Message: sharing.selectors.with_feedback annotates the same names.
        rated = cast("WithAnnotations[Message, selectors.OwnerRating]", message)
        rated.my_rating = rated.my_comment = None


def _session_for_send(
    *, user, session_id, text: str, now: datetime, model_id: str | None, file_ids
) -> _Opened:
    """The conversation (a new one with ``model_id`` or the default model, not stored yet,
    or locked and switched to ``model_id``) and the message with its checked files. A
    message that cannot fit with the system prompt in the model's budget is refused before
    anything is stored, and so are files that cannot (saying how many tokens they need)."""
    if session_id is None:
        model = catalogue.model_for(user=user, model_id=model_id)
        message = _message_to_send(user=user, session=None, text=text, model=model, ids=file_ids)
        context = _first_context(user=user, session=None, message=message, model=model)
        session = ChatSession(user=user, model=model.id, created_at=now, updated_at=now)
        return _Opened(session, True, message, attaching.with_files(context))
    session = _locked_session(user=user, session_id=session_id)
    if model_id is not None and model_id != session.model:
        session.model = catalogue.model_for(user=user, model_id=model_id).id
        ChatSession.objects.filter(pk=session.pk).update(model=session.model)
    model = catalogue.session_model(user=user, model_id=session.model)
    message = _message_to_send(user=user, session=session, text=text, model=model, ids=file_ids)
    _first_context(user=user, session=session, message=message, model=model)
    return _Opened(session, False, message, None)


def _message_to_send(
    *, user, session: ChatSession | None, text: str, model: ModelEntry, ids
) -> ContextMessage:
    """The user's message as the context counts it: its text's tokens and its files'
    (the caller's, images only for a model that takes them, within the budget)."""
    tokens = count_tokens(text)
    attached = attaching.check_attachments(user=user, file_ids=ids, accepts_images=model.vision)
    if not attached.files:
        return ContextMessage(role="user", content=text, tokens=tokens)
    room = room_for_files(
        system_prompt=_system_prompt(user=user, session=session),
        tokens=tokens,
        budget=model.prompt_budget,
    )
    attaching.check_budget(attached=attached, available=max(room, 0))
    return ContextMessage(
        role="user", content=text, tokens=tokens + attached.tokens, files=attached
    )


def _parent_for_send(*, session: ChatSession, created: bool, edited: Message | None):
    """The parent of the new message: the edited one's, else the current leaf."""
    if edited is not None:
        return edited.parent_id
    return None if created else _leaf_id(session)


def _attach(message: Message, attached: Attached | None) -> None:
    """Link the checked files to the stored ``message``, and keep them on it for its
    payload (which then costs no query)."""
    message.attached_files = list(attached.files) if attached else []
    if attached:
        attaching.attach(message=message, attached=attached)


def _edited_message(*, user, session_id, message_id) -> Message:
    """The user message an edit replaces (in ``session_id`` when given): another user's, or
    a missing one, is ``MessageNotFound``; a reply's id is refused naming the field."""
    if session_id is None:
        edited = selectors.get_message(user=user, message_id=message_id)
    else:
        session = selectors.get_session(user=user, session_id=session_id)
        edited = selectors.message_in_session(session=session, message_id=message_id)
    if edited.role != Message.Role.USER:
        raise InvalidInput("editMessageId must be one of your messages.", field="editMessageId")
    return edited


def _leaf_id(session: ChatSession):
    """The message a send continues: the current leaf (or, for a conversation stored
    without one, its last message)."""
    if session.current_message_id is not None:
        return session.current_message_id
    return session.messages.order_by("-sequence").values_list("pk", flat=True).first()


def _new_turn_rows(
    *,
    session: ChatSession,
    parent_id,
    text: str,
    tokens: int,
    content: ContentCheck,
    now,
    first: bool,
) -> tuple[Message, Message | None]:
    """The user's message and, unless refused, its empty reply (not stored yet: the caller
    stores both in one INSERT)."""
    sequence = 1 if first else _next_sequence(session)
    user_message = Message(
        session=session,
        parent_id=parent_id,
        sequence=sequence,
        role=Message.Role.USER,
        content=text,
        token_count=tokens,
        flagged=content.flagged,
        flag_categories=list(content.categories),
        moderation_failed=content.failed,
        created_at=now,
        updated_at=now,
    )
    reply = None
    if content.refusal() is None:
        reply = _empty_reply(session=session, parent=user_message, sequence=sequence + 1, now=now)
    return user_message, reply


def _insert_session(session: ChatSession, *, leaf: Message, flagged: bool) -> None:
    """Store a new conversation with its current leaf already set, which spares the UPDATE
    that setting it after its messages would cost. Its messages follow in the same
    transaction; foreign keys are checked at commit (Django makes them deferred)."""
    session.current_message = leaf
    session.flagged = flagged
    session.save(force_insert=True)


def _empty_reply(*, session: ChatSession, parent: Message, sequence: int, now) -> Message:
    return Message(
        session=session,
        parent=parent,
        sequence=sequence,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        model=session.model or llm.default_model(),
        created_at=now,
        updated_at=now,
    )


def _remember_key(*, user, key: str, user_message: Message, now) -> None:
    IdempotencyKey.objects.filter(
        user=user, key=key, created_at__lt=now - IDEMPOTENCY_WINDOW
    ).delete()
    IdempotencyKey.objects.create(user=user, key=key, user_message=user_message, created_at=now)


def _touch_session(session: ChatSession, *, flagged: bool, leaf: Message, now) -> None:
    """Make ``leaf`` the current one (and the session active now, flagged if it is)."""
    fields: dict[str, Any] = {"current_message": leaf, "updated_at": now}
    if flagged:
        fields["flagged"] = True
    ChatSession.objects.filter(pk=session.pk).update(**fields)
    for name, value in fields.items():
        setattr(session, name, value)


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
        Message.objects.filter(parent=user_message, role=Message.Role.ASSISTANT)
        .order_by("sequence")
        .first()
    )
    if reply is None:
        raise MessageBlocked()  # the first send was refused by moderation
    attachment_selectors.with_attached_files([user_message, reply])
    return Turn(session=user_message.session, user_message=user_message, reply=reply, replayed=True)


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


# --- Context ----------------------------------------------------------------------------


def _system_prompt(*, user, session: ChatSession | None) -> str:
    return system_prompt_for(
        user_instructions=user.custom_instructions,
        chat_instructions=session.instructions if session else "",
    )


def _first_context(
    *, user, session: ChatSession | None, message: ContextMessage, model: ModelEntry
) -> Context:
    """The context of a conversation's first message (no history to read); refuses a
    message that cannot fit with the system prompt."""
    return build_context(
        system_prompt=_system_prompt(user=user, session=session),
        history=[message],
        budget=model.prompt_budget,
        model=model,
    )


def _history_context(*, user, session: ChatSession, last_id) -> Context:
    """The context of a reply to the message ``last_id``: the branch that ends there."""
    system = _system_prompt(user=user, session=session)
    model = catalogue.session_model(user=user, model_id=session.model)
    context = build_context(
        system_prompt=system,
        history=selectors.context_history(
            last_id=last_id,
            budget=model.prompt_budget - system_prompt_tokens(system),
        ),
        budget=model.prompt_budget,
        model=model,
    )
    return attaching.with_files(context)


def prepare_context(turn: Turn) -> Context:
    """The messages to send for ``turn``: system prompt, then the newest turns that fit."""
    # Only a turn being answered is prepared (replies.ReplyRun), and it has a reply row.
    assert turn.reply is not None
    return _history_context(
        user=turn.session.user, session=turn.session, last_id=turn.reply.parent_id
    )


# --- Regenerating and switching branches ------------------------------------------------


async def regenerate_reply(*, user, session_id, message_id=None) -> Turn:
    """Answer again, beside the reply ``message_id`` (default: the current leaf's reply)."""
    return await run_db(check_regenerate, user=user, session_id=session_id, message_id=message_id)


def check_regenerate(*, user, session_id, message_id=None) -> Turn:
    """``regenerate_reply`` on a database thread: the user may send, then ``do_regenerate``
    (which checks the conversation under its lock)."""
    _ensure_can_send(user)
    return do_regenerate(user=user, session_id=session_id, message_id=message_id)


def do_regenerate(*, user, session_id, message_id=None) -> Turn:
    """In one transaction: the user message still answerable, the send rate, a new empty
    reply beside the old ones (all kept) made current, and the quota reservation."""
    reservation = None
    with _released_on_error(lambda: reservation), transaction.atomic():
        session = _locked_session(user=user, session_id=session_id)
        question = _answerable_message(session, reply_id=message_id)
        session_limits.check_conversation_limits(session)
        limits.check_send_rate(user.pk)
        now = timezone.now()
        reply = _empty_reply(
            session=session, parent=question, sequence=_next_sequence(session), now=now
        )
        reply.save(force_insert=True)
        _touch_session(session, flagged=False, leaf=reply, now=now)
        context = _history_context(user=user, session=session, last_id=question.pk)
        reservation = limits.reserve_tokens(user.pk, prompt_tokens=context.prompt_tokens)
        selectors.with_sibling_ids([question, reply])
        attachment_selectors.with_attached_files([question, reply])
    session.user = user
    return Turn(
        session=session,
        user_message=question,
        reply=reply,
        context=context,
        reservation=reservation,
    )


def _answerable_message(session: ChatSession, *, reply_id=None) -> Message:
    """The user message that the reply ``reply_id`` (default: the current leaf's) answers,
    in a conversation with no reply in progress, or the error."""
    if reply_id is not None:
        reply = selectors.message_in_session(session=session, message_id=reply_id)
        if reply.role != Message.Role.ASSISTANT:
            raise InvalidInput("messageId must be a reply of the assistant.", field="messageId")
        question = reply.parent
    else:
        leaf = _leaf_id(session)
        question = Message.objects.filter(pk=leaf).first() if leaf is not None else None
        # Up the current branch to the last question still shown: a hidden one is skipped
        # (its text never reaches the model) and the new reply branches off before it.
        while question is not None and (question.role == Message.Role.ASSISTANT or question.hidden):
            question = question.parent
    reply_storage.fail_stale_replies(session_id=session.pk)
    if session.messages.filter(status=Message.Status.STREAMING).exists():
        raise ReplyInProgress()
    # In block mode a refused message, flagged or never checked, must not reach the model.
    refused = question is not None and (question.flagged or question.moderation_failed)
    if (
        question is None
        or question.role != Message.Role.USER
        or question.hidden
        or (refused and settings.CHATBOT_MODERATION == "block")
    ):
        raise NothingToRegenerate()
    return question


def switch_branch(*, user, session_id, message_id) -> ChatSession:
    """Make current the newest leaf under the message ``message_id`` (at each step its most
    recently created child), under the conversation's lock as sends take it."""
    with transaction.atomic():
        session = _locked_session(user=user, session_id=session_id)
        message = selectors.message_in_session(session=session, message_id=message_id)
        leaf_id = selectors.newest_leaf_under(message)
        ChatSession.objects.filter(pk=session.pk).update(current_message_id=leaf_id)
        session.current_message_id = leaf_id
    events.publish_sync(
        user.pk, payloads.branch_event(session_id=session.pk, current_message_id=leaf_id)
    )
    return session


def store_as_branch(*, session: ChatSession, messages: list[Message], batch_size=None) -> None:
    """Store new ``messages`` of ``session`` as one branch, each following the one before,
    the last current (copies of shared conversations)."""
    for parent, message in zip([None, *messages], messages, strict=False):
        message.parent = parent
    store_as_tree(session=session, messages=messages, batch_size=batch_size)


def store_as_tree(
    *,
    session: ChatSession,
    messages: list[Message],
    current: Message | None = None,
    batch_size: int | None = None,
) -> None:
    """Store new ``messages`` of ``session``, each with its parent set and listed after it,
    and make ``current`` (by default the last) the current leaf (imports, copies)."""
    # Parents come first in the list, so every batch refers only to rows already written.
    Message.objects.bulk_create(messages, batch_size=batch_size)
    if messages:
        leaf = current if current is not None else messages[-1]
        ChatSession.objects.filter(pk=session.pk).update(current_message=leaf)
        session.current_message = leaf


# --- Renames and deletes ----------------------------------------------------------------


INSTRUCTIONS_MAX_CHARS = 4000


def configure_session(*, user, session_id, model=None, instructions=None) -> ChatSession:
    """Set a conversation's model (a catalogue id the user may use) and its own
    instructions (added to the system prompt after the user's); None leaves one as is."""
    session = selectors.get_session(user=user, session_id=session_id)
    fields = []
    if model is not None:
        session.model = catalogue.model_for(user=user, model_id=model).id
        fields.append("model")
    if instructions is not None:
        if len(instructions) > INSTRUCTIONS_MAX_CHARS:
            raise InvalidInput(
                f"The instructions are too long: {len(instructions)} characters, the limit "
                f"is {INSTRUCTIONS_MAX_CHARS}.",
                field="instructions",
            )
        if has_bad_characters(instructions):
            raise InvalidInput(
                "The instructions contain characters that are not allowed.", field="instructions"
            )
        session.instructions = instructions
        fields.append("instructions")
    if fields:
        session.save(update_fields=fields)
    return session


def rename_session(*, user, session_id, title) -> ChatSession:
    title = titles.clean_title(title)
    session = selectors.get_session(user=user, session_id=session_id)
    session.title = title
    session.save(update_fields=["title"])
    events.publish_sync(user.pk, payloads.title_event(session_id=session.pk, title=title))
    return session


def delete_session(*, user, session_id) -> None:
    """Delete a conversation and its messages; a send or regenerate racing it waits for it
    (and then finds no conversation) or goes first (and its rows go too)."""
    with transaction.atomic():
        session = _locked_session(user=user, session_id=session_id)
        _delete_sessions(ChatSession.objects.filter(pk=session.pk))
    events.publish_sync(user.pk, payloads.session_deleted_event(session_id=session_id))


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


# --- A user's open sockets --------------------------------------------------------------

SocketEnding = Literal["signed out", "password changed", "deactivated", "suspended"]
# The close code tells the page what to do: sign in again, or stop (access ended).
SOCKET_CLOSE_CODES: dict[str, int] = {
    "signed out": events.SIGNED_OUT,
    "password changed": events.SIGNED_OUT,
    "deactivated": events.ACCESS_ENDED,
    "suspended": events.ACCESS_ENDED,
}


def close_sockets(*, user_id: int, ending: SocketEnding, session_key: str | None = None) -> None:
    """Close the user's open sockets in any process (with ``session_key``, only those of that
    browser session), with the close code ``ending`` calls for."""
    code = SOCKET_CLOSE_CODES[ending]
    events.close_sockets(user_id, code=code, reason=ending, session_key=session_key)


def close_sockets_on_commit(*, user_id: int, ending: SocketEnding) -> None:
    """``close_sockets`` for all of the user's sockets once the current transaction commits
    (at once outside one), so a rolled-back change closes nothing."""
    events.close_sockets_on_commit(user_id, code=SOCKET_CLOSE_CODES[ending], reason=ending)
