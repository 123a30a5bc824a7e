"""A chat completion as a stored conversation, through conversations' send door.

Without a conversation id, a new conversation is made from the request (its system
messages the instructions, its earlier user and assistant messages the history) and the
last user message goes through ``check_send`` in the same transaction, so a send the door
refuses (rate, quota, a message that cannot fit) leaves nothing. With an id, only that last
message is sent, into the caller's conversation; the stored history is the context.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from catalogue.entries import ModelEntry
from catalogue.selectors import models_for
from conversations import services
from conversations.context import count_tokens
from conversations.db import run_db
from conversations.errors import ChatError, MessageBlocked, ModerationUnavailable
from conversations.models import ChatSession, Message
from conversations.services import CheckedSend, Turn
from openai_api.errors import OpenAIError
from openai_api.requests import CompletionRequest

INSTRUCTIONS_MAX_CHARS = 20_000


@dataclass(frozen=True)
class CheckedCompletion:
    """A completion the door accepted: its send, and the new conversation it made, if any."""

    send: CheckedSend
    session_id: object
    new_session: bool


def usable_models(*, user) -> list[ModelEntry]:
    """The models ``user`` may use, the default first (the catalogue's answer)."""
    return models_for(user)


def check_model(*, user, model: str) -> ModelEntry:
    """The model a request names, or OpenAI's 404 (unknown, disabled and another group's
    are the same answer, so a restricted model's existence is not revealed)."""
    for entry in usable_models(user=user):
        if entry.id == model:
            return entry
    raise OpenAIError(
        f"The model '{model}' does not exist or you do not have access to it.",
        status=404,
        param="model",
        code="model_not_found",
    )


def check_completion(*, user, request: CompletionRequest, session_id=None) -> CheckedCompletion:
    """Check (and, when the door can, store) a completion on a database thread."""
    if session_id is not None:
        # The request's earlier messages are not trusted: the stored history is the context.
        # The model the request names answers, from this turn on (as POST /api/chat's).
        send = services.check_send(
            user=user, text=request.question, session_id=session_id, model=request.model
        )
        return CheckedCompletion(send=send, session_id=session_id, new_session=False)
    with transaction.atomic():
        session = _conversation_from_request(user=user, request=request)
        send = services.check_send(
            user=user, text=request.question, session_id=session.pk, model=request.model
        )
    return CheckedCompletion(send=send, session_id=session.pk, new_session=True)


async def finish_completion(checked: CheckedCompletion, *, request: CompletionRequest) -> Turn:
    """The stored turn: the content checks and the store still to do, if any.

    The earlier user messages of a new conversation are checked as its last one is (in
    block mode, a flagged one must not reach the model either). A new conversation whose
    message is then refused without being stored (a rate, the quota, a flagged earlier
    message) is deleted, as if the request had never come (``conversation_kept``)."""
    try:
        if checked.new_session:
            await _check_earlier_messages(request)
        return await services.finish_send(checked.send)
    except (ChatError, OpenAIError) as exc:
        if not conversation_kept(checked, exc):
            await _discard(checked)
        raise


def conversation_kept(checked: CheckedCompletion, exc: Exception) -> bool:
    """Whether a refused completion leaves its conversation: one that existed, one whose
    message was stored already, or one whose message was refused by moderation (kept for
    moderators)."""
    return (
        not checked.new_session
        or checked.send.turn is not None
        or isinstance(exc, MessageBlocked | ModerationUnavailable)
    )


async def _check_earlier_messages(request: CompletionRequest) -> None:
    earlier = [m.content for m in request.history if m.role == Message.Role.USER]
    if not earlier:
        return
    refusal = (await services.check_content("\n\n".join(earlier))).refusal()
    if isinstance(refusal, MessageBlocked):
        raise OpenAIError(
            "An earlier message in 'messages' may break the usage policy; nothing was stored.",
            param="messages",
            code="content_policy_violation",
        )
    if refusal is not None:
        raise OpenAIError(
            refusal.detail, status=503, type="server_error", code="moderation_unavailable"
        )


async def _discard(checked: CheckedCompletion) -> None:
    await run_db(services.delete_session, user=checked.send.user, session_id=checked.session_id)


def _conversation_from_request(*, user, request: CompletionRequest) -> ChatSession:
    """A new conversation holding the request's instructions and earlier turns, its last
    earlier message the current leaf (the message sent next continues it)."""
    instructions = request.instructions
    if len(instructions) > INSTRUCTIONS_MAX_CHARS:
        raise OpenAIError(
            f"The system messages are too long: {len(instructions)} characters, the limit "
            f"is {INSTRUCTIONS_MAX_CHARS}.",
            param="messages",
        )
    now = timezone.now()
    session = ChatSession.objects.create(
        user=user, model=request.model, instructions=instructions, created_at=now, updated_at=now
    )
    history = []
    for sequence, item in enumerate(request.history, start=1):
        history.append(
            Message(
                session=session,
                parent_id=history[-1].pk if history else None,
                sequence=sequence,
                role=item.role,
                content=item.content,
                token_count=count_tokens(item.content),
                model=request.model if item.role == Message.Role.ASSISTANT else "",
                created_at=now,
                updated_at=now,
            )
        )
    if history:
        Message.objects.bulk_create(history)
        ChatSession.objects.filter(pk=session.pk).update(current_message=history[-1])
        session.current_message = history[-1]
    return session
