"""Writes of sharing, organizing and feedback: each checks access, then writes in one
transaction. Another user's conversation or message is a 404, as everywhere."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from conversations import selectors as conversation_selectors
from conversations import services as conversation_services
from conversations.models import ChatSession, Message
from conversations.validation import has_bad_characters
from core.errors import InvalidInput
from sharing import selectors
from sharing.models import MessageFeedback, SharedConversation, SharedMessage

FEEDBACK_COMMENT_MAX_CHARS = 2000


def new_share_token() -> str:
    """192 random bits, URL-safe: a share link cannot be guessed."""
    return secrets.token_urlsafe(24)


def share_session(*, user, session_id) -> SharedConversation:
    """Snapshot the conversation as it is now (hidden messages left out); sharing it again
    replaces the snapshot behind the same link."""
    with transaction.atomic():
        session = _locked_session(user=user, session_id=session_id)
        now = timezone.now()
        share, created = SharedConversation.objects.get_or_create(
            session=session, defaults={"token": new_share_token(), "created_at": now}
        )
        share.title = session.title
        share.model = session.model
        share.updated_at = now
        share.save(update_fields=["title", "model", "updated_at"])
        if not created:
            share.messages.all().delete()
        SharedMessage.objects.bulk_create(
            SharedMessage(
                share=share,
                message=message,
                position=position,
                role=message.role,
                content=message.content,
                token_count=message.token_count,
                model=message.model,
                created_at=message.created_at,
            )
            for position, message in enumerate(selectors.visible_messages(session), start=1)
        )
    return share


def unshare_session(*, user, session_id) -> None:
    """Revoke the conversation's share link: its page answers 404 from now on."""
    session = conversation_selectors.get_session(user=user, session_id=session_id)
    SharedConversation.objects.filter(session=session).delete()


def revoke_shares(shares: Iterable[SharedConversation]) -> int:
    """Moderators' revocation of share links, whoever owns them."""
    deleted, _ = SharedConversation.objects.filter(pk__in=[s.pk for s in shares]).delete()
    return deleted


def forget_hidden_messages(messages: Iterable[Message]) -> None:
    """Take messages a moderator hid out of every snapshot that holds them."""
    SharedMessage.objects.filter(message__in=[m.pk for m in messages]).delete()


def continue_shared(*, user, token: str) -> ChatSession:
    """A copy of a shared conversation as a new conversation of ``user``."""
    share = selectors.get_share(token=token)
    with transaction.atomic():
        now = timezone.now()
        session = ChatSession.objects.create(
            user=user, title=share.title, model=share.model, created_at=now, updated_at=now
        )
        conversation_services.store_as_branch(
            session=session,
            messages=[
                Message(
                    session=session,
                    sequence=sequence,
                    role=shared.role,
                    content=shared.content,
                    token_count=shared.token_count,
                    model=shared.model,
                    created_at=now,
                    updated_at=now,
                )
                for sequence, shared in enumerate(selectors.shared_messages(share), start=1)
            ],
        )
    return session


def organize_session(
    *, user, session_id, pinned: bool | None = None, archived: bool | None = None
) -> ChatSession:
    """Pin or unpin, archive or restore one of the user's conversations (None: unchanged)."""
    fields = {
        name: value
        for name, value in {"pinned": pinned, "archived": archived}.items()
        if value is not None
    }
    session = conversation_selectors.get_session(user=user, session_id=session_id)
    # Not a change of the conversation's activity: updated_at (its place in the list) stays.
    if fields:
        ChatSession.objects.filter(pk=session.pk).update(**fields)
    for name, value in fields.items():
        setattr(session, name, value)
    return session


def clean_feedback_comment(comment) -> str:
    if not isinstance(comment, str):
        raise InvalidInput("The comment must be text.", field="comment")
    comment = comment.strip()
    if len(comment) > FEEDBACK_COMMENT_MAX_CHARS:
        raise InvalidInput(
            f"The comment can be at most {FEEDBACK_COMMENT_MAX_CHARS} characters.",
            field="comment",
        )
    if has_bad_characters(comment):
        raise InvalidInput("The comment contains characters that are not allowed.", field="comment")
    return comment


def _rated_reply(*, user, message_id) -> Message:
    message = conversation_selectors.get_message(user=user, message_id=message_id)
    if message.role != Message.Role.ASSISTANT:
        raise InvalidInput("Only the assistant's replies can be rated.", field="messageId")
    return message


def rate_reply(*, user, message_id, rating: str, comment: str = "") -> MessageFeedback:
    """The user's rating of one of their assistant replies; rating again replaces it."""
    if rating not in MessageFeedback.Rating.values:
        raise InvalidInput('The rating must be "up" or "down".', field="rating")
    comment = clean_feedback_comment(comment)
    message = _rated_reply(user=user, message_id=message_id)
    feedback, _ = MessageFeedback.objects.update_or_create(
        user=user,
        message=message,
        defaults={"rating": rating, "comment": comment, "updated_at": timezone.now()},
    )
    return feedback


def remove_rating(*, user, message_id) -> None:
    message = _rated_reply(user=user, message_id=message_id)
    MessageFeedback.objects.filter(user=user, message=message).delete()


def _locked_session(*, user, session_id) -> ChatSession:
    session = conversation_selectors.get_session(user=user, session_id=session_id)
    return ChatSession.objects.select_for_update().get(pk=session.pk)
