"""Reads that leave the app, always scoped to a user.

Another user's session is indistinguishable from a missing one: both raise
``SessionNotFound``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from django.db.models import Q, QuerySet

from conversations.errors import MessageNotFound, SessionNotFound
from conversations.llm import ContextMessage
from conversations.models import ChatSession, Message

CONTEXT_CHUNK = 64


def parse_uuid(value, *, not_found: type[Exception] = SessionNotFound) -> uuid.UUID:
    """A UUID from client input; anything else is treated as an unknown id."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise not_found() from None


def sessions_for_user(user, *, query: str = "") -> QuerySet[ChatSession]:
    """The user's conversations, most recently active first, optionally searched."""
    sessions = ChatSession.objects.filter(user=user).order_by("-updated_at", "-id")
    query = query.strip()
    if query:
        matching_messages = Message.objects.filter(content__icontains=query, hidden=False).values(
            "session_id"
        )
        sessions = sessions.filter(Q(title__icontains=query) | Q(id__in=matching_messages))
    return sessions


def get_session(*, user, session_id) -> ChatSession:
    """One of the user's conversations, or ``SessionNotFound``."""
    try:
        return ChatSession.objects.get(id=parse_uuid(session_id), user=user)
    except ChatSession.DoesNotExist:
        raise SessionNotFound() from None


def messages_for_session(*, user, session_id) -> QuerySet[Message]:
    """The messages of one of the user's conversations, oldest first."""
    session = get_session(user=user, session_id=session_id)
    return Message.objects.filter(session=session).order_by("sequence")


def get_message(*, user, message_id) -> Message:
    """One message of one of the user's conversations, or ``MessageNotFound``."""
    try:
        return Message.objects.select_related("session").get(
            id=parse_uuid(message_id, not_found=MessageNotFound), session__user=user
        )
    except Message.DoesNotExist:
        raise MessageNotFound() from None


def context_history(*, session_id, before_sequence: int) -> Iterator[ContextMessage]:
    """What the model may see of a conversation, newest first, read in small chunks.

    Hidden messages, replies still streaming or failed, and empty messages are left out.
    The caller stops iterating once the token budget is spent, so a 10,000-message
    conversation costs the same as a short one.
    """
    visible = (
        Message.objects.filter(session_id=session_id, hidden=False)
        .filter(
            Q(role=Message.Role.USER)
            | Q(
                role=Message.Role.ASSISTANT,
                status__in=[Message.Status.COMPLETE, Message.Status.CANCELLED],
            )
        )
        .exclude(content="")
        .order_by("-sequence")
        .values_list("sequence", "role", "content", "token_count")
    )
    upper = before_sequence
    while True:
        chunk = list(visible.filter(sequence__lt=upper)[:CONTEXT_CHUNK])
        for _sequence, role, content, tokens in chunk:
            yield ContextMessage(role=role, content=content, tokens=tokens)
        if len(chunk) < CONTEXT_CHUNK:
            return
        upper = chunk[-1][0]
