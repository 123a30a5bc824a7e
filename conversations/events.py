"""Events for the user's open tabs, through the Channels layer (any process).

Publishing is best effort: a layer that is down (Redis unavailable) is logged and the
write that caused the event stands; tabs catch up on their next load.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from functools import partial
from typing import Any

from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# Close codes of /ws/chat/ that the page understands (static/js/chat.js).
SIGNED_OUT = 4401  # the browser session ended: sign-out, expiry, a password change
ACCESS_ENDED = 4403  # the account was deactivated or its chat access suspended


def user_group(user_id) -> str:
    return f"chat.user.{user_id}"


def reply_group(reply_id) -> str:
    """The group of the process generating a reply, which answers for its text so far."""
    return f"chat.reply.{reply_id}"


async def publish(user_id: int, event: Mapping[str, Any]) -> None:
    """Send ``event`` to every open tab of the user, in any process."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(user_group(user_id), event)
    except (RedisError, OSError, ChannelFull) as exc:
        logger.warning("could not publish %s: %s", event.get("type"), type(exc).__name__)


async def ask_for_reply_text(reply_id, *, reply_to: str) -> None:
    """Ask the process generating the reply, whichever it is, to send the text so far to the
    channel ``reply_to`` (a tab that joins mid-stream); no answer when no process runs it."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(
            reply_group(reply_id), {"type": "reply.text_request", "replyTo": reply_to}
        )
    except (RedisError, OSError, ChannelFull) as exc:
        logger.warning("could not ask for the text of a reply: %s", type(exc).__name__)


def may_have_listeners(user_id) -> bool:
    """False only when no tab of the user can be listening: the in-memory layer (one
    process) knows its groups; with Redis a tab may be open in another process."""
    layer = get_channel_layer()
    if isinstance(layer, InMemoryChannelLayer):
        return bool(layer.groups.get(user_group(user_id)))
    return layer is not None


def publish_sync(user_id: int, event: Mapping[str, Any]) -> None:
    """``publish`` from synchronous code (views, services)."""
    async_to_sync(publish)(user_id, event)


def session_tag(session_key: str) -> str:
    """A name for a browser session that does not reveal its key to the channel layer."""
    return hashlib.sha256(session_key.encode()).hexdigest()[:32]


def close_sockets(user_id, *, code: int, reason: str, session_key: str | None = None) -> None:
    """Close the user's open sockets in any process: all of them, or with ``session_key``
    only those of that browser session."""
    session = session_tag(session_key) if session_key else None
    publish_sync(
        user_id, {"type": "chat.close", "code": code, "reason": reason, "session": session}
    )


def close_sockets_on_commit(user_id, *, code: int, reason: str) -> None:
    """``close_sockets`` for all of the user's sockets once the current transaction commits
    (at once outside one), so a rolled-back change closes nothing."""
    transaction.on_commit(partial(close_sockets, user_id, code=code, reason=reason))
