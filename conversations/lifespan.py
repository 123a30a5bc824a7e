"""ASGI lifespan handling: on shutdown, end the replies this process is still writing.

Channels' router does not speak the lifespan protocol, so this small wrapper does. A reply
whose process stops cleanly ends ``failed`` with its text kept at once; one whose process
is killed is caught later by ``reply_storage.fail_stale_replies``.
"""

from __future__ import annotations

import asyncio
import gc

from conversations import context, llm, replies
from conversations.db import close_connections

# The collector's thresholds for a server (Python's defaults are 700, 10, 10). Streams keep
# objects alive for seconds, so they reach the oldest generation, and with 500 streams open
# each full collection walked 220,000 objects for 60 to 160 ms while every stream waited
# (the benchmark's p99 token gap). Young collections every 10,000 net allocations instead
# of 700 promote far fewer of them, and full collections come after 5 million net
# allocations instead of 70,000: none in the benchmark's 30 s, a few an hour under load.
# Reference cycles are still collected, later; resident memory did not change.
GC_THRESHOLDS = (10_000, 50, 10)


class LifespanMiddleware:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # Everything loaded so far (Django, the URLconf, the tokenizer's tables)
                # lives as long as the process: move it out of the garbage collector's
                # reach, so its full collections stop pausing every open stream to walk it.
                context.count_tokens("load the vocabulary now")
                gc.collect()
                gc.freeze()
                gc.set_threshold(*GC_THRESHOLDS)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await replies.stop_all_local()
                await llm.close_clients()
                await asyncio.get_running_loop().run_in_executor(None, close_connections)
                await send({"type": "lifespan.shutdown.complete"})
                return
