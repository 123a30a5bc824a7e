"""Run ORM work from async code without holding a thread or a connection between calls.

Django's async ORM routes every query through one thread per request context; a reply that
outlives its request needs its own way in. Each call here runs on a small, bounded pool of
threads and closes its connection afterwards (with ``DATABASE_POOL`` on, that returns it to
psycopg's pool), so a stream that lasts minutes holds no connection and the database sees
at most ``CHATBOT_DB_THREADS`` connections from the background work of one process.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from django.db import close_old_connections, connection

P = ParamSpec("P")
T = TypeVar("T")

_executor = ThreadPoolExecutor(
    max_workers=int(os.environ.get("CHATBOT_DB_THREADS", "4")), thread_name_prefix="chat-db"
)


def _call(fn: Callable[..., T], args, kwargs) -> T:
    close_old_connections()
    try:
        return fn(*args, **kwargs)
    finally:
        connection.close()


async def run_db(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run the sync ``fn`` on the database threads and return its result."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor, functools.partial(_call, fn, args, kwargs))
