"""Sending a message through the real services and waiting for the whole reply."""

from __future__ import annotations

import asyncio

from conversations import replies, services


async def send(user, text, session_id=None) -> replies.ReplyFinished:
    """Begin a turn, run its reply to the end (title included) and return how it ended."""
    turn = await services.send_message(user=user, text=text, session_id=session_id)
    run = replies.start_reply(turn)
    finished = await run.result()
    await asyncio.wait_for(asyncio.shield(run.task), 5)
    return finished
