"""Reads of shares, exports and feedback; the owner's reads are scoped to the owner."""

from __future__ import annotations

from django.db.models import OuterRef, QuerySet, Subquery

from conversations import selectors as conversation_selectors
from conversations.models import ChatSession, Message
from sharing.errors import ShareNotFound
from sharing.models import MessageFeedback, SharedConversation, SharedMessage


def get_share(*, token: str) -> SharedConversation:
    """The share a token opens (anyone holding it may read), or ``ShareNotFound``."""
    try:
        return SharedConversation.objects.get(token=str(token))
    except SharedConversation.DoesNotExist:
        raise ShareNotFound() from None


def shared_messages(share: SharedConversation) -> QuerySet[SharedMessage]:
    return share.messages.order_by("position")


def shares_for_user(user) -> QuerySet[SharedConversation]:
    """The user's share links, newest snapshot first (for Settings)."""
    return SharedConversation.objects.filter(session__user=user).order_by("-updated_at")


def visible_messages(session: ChatSession) -> QuerySet[Message]:
    """What a copy of the conversation may hold: the finished, non-empty turns of its current
    branch that a moderator has not hidden."""
    return (
        conversation_selectors.branch_messages(session)
        .filter(
            hidden=False,
            role__in=[Message.Role.USER, Message.Role.ASSISTANT],
            status__in=[Message.Status.COMPLETE, Message.Status.CANCELLED],
        )
        .exclude(content="")
        .order_by("sequence")
    )


def session_for_export(
    *, user, session_id, every_branch: bool = True
) -> tuple[ChatSession, list[Message]]:
    """One of the user's conversations and its messages (hidden ones blanked by the caller):
    every branch in creation order, or its current branch; with their attachments' files."""
    session = conversation_selectors.get_session(user=user, session_id=session_id)
    messages = (
        session.messages.order_by("sequence")
        if every_branch
        else conversation_selectors.branch_messages(session)
    )
    return session, list(messages.prefetch_related("attachment_links__file"))


def feedback_for(*, user, message: Message) -> MessageFeedback | None:
    return MessageFeedback.objects.filter(user=user, message=message).first()


def with_feedback(messages: QuerySet[Message], *, user) -> QuerySet[Message]:
    """``messages`` with the user's rating of each as ``my_rating`` and ``my_comment``
    (None when not rated), read in the same query."""
    mine = MessageFeedback.objects.filter(user=user, message=OuterRef("pk"))
    return messages.annotate(
        my_rating=Subquery(mine.values("rating")[:1]),
        my_comment=Subquery(mine.values("comment")[:1]),
    )
