"""Replies with usage, at a given moment."""

from __future__ import annotations

from datetime import UTC, datetime

from conversations.models import Message
from conversations.reply_storage import finish_reply
from tests.factories import MessageFactory


def at(text: str) -> datetime:
    """A UTC moment written ``YYYY-MM-DD HH:MM``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def reply(session, when: str, model: str = "model-a", **fields) -> Message:
    """An assistant reply in ``session`` started at ``when`` (UTC) and ended with its usage
    as the app ends one (``finish_reply``, which adds it to the usage rollup)."""
    fields = {"prompt_tokens": 100, "completion_tokens": 20, "cached_tokens": 0, **fields}
    status = fields.pop("status", Message.Status.COMPLETE)
    # The reply's own count (finish_reply counts its text), as a reply of that length has.
    token_count = fields.pop("token_count", None)
    started = MessageFactory(
        session=session,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        model=model,
        created_at=at(when),
    )
    finished = finish_reply(
        reply=started, content=started.content, status=status, model=model, **fields
    )
    if token_count is not None:
        Message.objects.filter(pk=started.pk).update(token_count=token_count)
        finished.token_count = token_count
    return finished
