"""Replies with usage, at a given moment."""

from __future__ import annotations

from datetime import UTC, datetime

from conversations.models import Message
from tests.factories import MessageFactory


def at(text: str) -> datetime:
    """A UTC moment written ``YYYY-MM-DD HH:MM``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def reply(session, when: str, model: str = "model-a", **fields) -> Message:
    """An assistant reply in ``session`` started at ``when`` (UTC), with its usage."""
    fields = {"prompt_tokens": 100, "completion_tokens": 20, "cached_tokens": 0, **fields}
    return MessageFactory(
        session=session, role=Message.Role.ASSISTANT, model=model, created_at=at(when), **fields
    )
