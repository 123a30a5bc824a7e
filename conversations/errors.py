"""The chat's domain errors: raised by services and llm, translated once per transport.

Nothing from the upstream's error text ever goes into ``detail``. The base class, bad input
and outages live in ``core.errors``, shared by every app.
"""

from __future__ import annotations

from datetime import date

from core.errors import ChatError


class SessionNotFound(ChatError):
    status_code = 404
    code = "not_found"
    default_detail = "Conversation not found."


class MessageNotFound(ChatError):
    status_code = 404
    code = "not_found"
    default_detail = "Message not found."


class ChatSuspended(ChatError):
    status_code = 403
    code = "suspended"
    default_detail = "Your chat access is suspended. You can still read your conversations."


class ReplyInProgress(ChatError):
    status_code = 409
    code = "reply_in_progress"
    default_detail = "A reply is still being generated in this conversation; wait or stop it."


class NothingToRegenerate(ChatError):
    status_code = 409
    code = "nothing_to_regenerate"
    default_detail = "This conversation has no message to answer again."


class RateLimited(ChatError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, retry_after: int) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(
            f"You are sending messages too quickly. Try again in {self.retry_after} seconds."
        )


class QuotaExceeded(ChatError):
    status_code = 429
    code = "quota_exceeded"
    default_detail = "You have used today's token allowance. It resets at midnight UTC."

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(detail)


class BudgetExceeded(QuotaExceeded):
    """A calendar month's token budget is spent; the message says when the next one starts."""

    code = "budget_exceeded"

    def __init__(self, retry_after: int, *, renews: date) -> None:
        super().__init__(
            retry_after,
            "You have used this month's token budget. "
            f"It renews on {renews.isoformat()} at 00:00 UTC.",
        )


class MessageBlocked(ChatError):
    status_code = 400
    code = "blocked"
    default_detail = (
        "This message was not sent because it may break the usage policy. "
        "It has been kept for review by a moderator."
    )


class LLMError(ChatError):
    """The model could not answer; subclasses say why in words a user understands."""

    status_code = 503
    code = "model_unavailable"
    default_detail = "The assistant is unavailable right now. Please try again in a moment."


class LLMUnavailable(LLMError):
    pass


class LLMRateLimited(LLMError):
    code = "model_busy"
    default_detail = "The assistant is busy right now. Please try again in a moment."


class LLMRejected(LLMError):
    """The upstream refused the request itself (bad configuration or content policy)."""

    code = "model_rejected"
    default_detail = "The assistant could not answer this request."


class ModerationUnavailable(LLMError):
    code = "moderation_unavailable"
    default_detail = (
        "Messages cannot be checked right now, so they cannot be sent. "
        "Your message was kept; please try again in a moment."
    )
