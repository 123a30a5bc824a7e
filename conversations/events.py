"""Events for the user's open tabs, through the Channels layer (any process).

Publishing is best effort: a layer that is down (Redis unavailable) is logged and the
write that caused the event stands; tabs catch up on their next load.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer, get_channel_layer
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


def user_group(user_id) -> str:
    return f"chat.user.{user_id}"


async def publish(user_id, event: dict) -> None:
    """Send ``event`` to every open tab of the user, in any process."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(user_group(user_id), event)
    except (RedisError, OSError, ChannelFull) as exc:
        logger.warning("could not publish %s: %s", event.get("type"), type(exc).__name__)


def may_have_listeners(user_id) -> bool:
    """False only when no tab of the user can be listening: the in-memory layer (one
    process) knows its groups; with Redis a tab may be open in another process."""
    layer = get_channel_layer()
    if isinstance(layer, InMemoryChannelLayer):
        return bool(layer.groups.get(user_group(user_id)))
    return layer is not None


def publish_sync(user_id, event: dict) -> None:
    """``publish`` from synchronous code (views, services)."""
    async_to_sync(publish)(user_id, event)
