"""Limits of one conversation, beside the per-user ones of ``limits``: the tokens it may
spend in all (``CHATBOT_CONVERSATION_TOKEN_LIMIT``) and how often it may be sent to
(``CHATBOT_SESSION_RATE_LIMIT``). Both are checked under the conversation's lock, before
anything of the send is stored; both are off by default and then cost nothing."""

from __future__ import annotations

from django.conf import settings
from django.db.models import F, Sum
from django.db.models.functions import Coalesce

from conversations import limits
from conversations.errors import RateLimited
from conversations.models import ChatSession, Message
from core.errors import ChatError


class ConversationTooLong(ChatError):
    status_code = 409
    code = "conversation_limit"
    default_detail = "This conversation has reached its length limit; start a new one."


class ConversationRateLimited(RateLimited):
    code = "conversation_rate_limited"

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.detail = (
            "You are sending messages too quickly in this conversation. "
            f"Try again in {self.retry_after} seconds."
        )
        self.args = (self.detail,)


def check_conversation_limits(session: ChatSession) -> None:
    """Refuse a send or regenerate in ``session`` past either limit (409, or 429 with the
    seconds to wait); a refused one is not counted against the rate."""
    check_conversation_tokens(session)
    check_conversation_rate(session.pk)


def tokens_spent(session: ChatSession) -> int:
    """Prompt and completion tokens of every reply of ``session``, on every branch."""
    spent = Coalesce(F("prompt_tokens"), 0) + Coalesce(F("completion_tokens"), 0)
    total = Message.objects.filter(session=session, role=Message.Role.ASSISTANT).aggregate(
        total=Sum(spent)
    )["total"]
    return total or 0


def check_conversation_tokens(session: ChatSession) -> None:
    limit = settings.CHATBOT_CONVERSATION_TOKEN_LIMIT
    if limit and tokens_spent(session) >= limit:
        raise ConversationTooLong()


def check_conversation_rate(session_id) -> None:
    """Count one send to the conversation ``session_id`` against
    ``CHATBOT_SESSION_RATE_LIMIT``, as ``limits.check_send_rate`` counts a user's."""
    limits.check_rate(
        f"session-rate:{session_id}",
        limit=settings.CHATBOT_SESSION_RATE_LIMIT,
        error=ConversationRateLimited,
    )
