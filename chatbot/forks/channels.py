"""A Channels consumer dispatch without a thread hop per message.

Forks ``channels.consumer.AsyncConsumer.dispatch`` (Channels 4.3.2), which runs
``close_old_connections`` in a thread before every message: for a tab, a hop per streamed
delta.
"""

from __future__ import annotations

from channels.consumer import get_handler_name


class NoConnectionCleanupDispatch:
    """For an async consumer whose database work runs on threads that look after their own
    connections (Channels' auth middleware closes its own too)."""

    async def dispatch(self, message: dict) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)
