"""Run ORM work from async code without holding a thread or a connection per stream.

Django's async ORM routes every query through one thread per request context; a reply that
outlives its request needs its own way in. Calls here run on a small, bounded pool of
threads, each keeping one connection between calls (opening a connection per call cost a
sixth of the CPU of a chat send), so the database sees at most ``CHATBOT_DB_THREADS``
connections from the background work of a process however many replies stream at once.
A connection that failed is dropped and the next call reconnects, so a database restart
heals by itself.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import ParamSpec, TypeVar

from django.conf import settings
from django.db import connections

P = ParamSpec("P")
T = TypeVar("T")


# One on SQLite (one writer at a time), four elsewhere; see settings.CHATBOT_DB_THREADS.
THREADS = settings.CHATBOT_DB_THREADS
_executor = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="chat-db")


_checked = threading.local()
HEALTH_CHECK_SECONDS = 1.0


def _check_connections() -> None:
    # A connection idle across a database restart is dead; test it (at most once a second
    # per thread) before use, so the first request after a restart already succeeds.
    now = time.monotonic()
    if now - getattr(_checked, "at", 0.0) < HEALTH_CHECK_SECONDS:
        return
    _checked.at = now
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None and not connection.is_usable():
            connection.close()


def _drop_broken_connections() -> None:
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None and connection.errors_occurred:
            if not connection.is_usable():
                connection.close()
            connection.errors_occurred = False


def _call(fn: Callable[..., T], args, kwargs) -> T:
    _check_connections()
    try:
        return fn(*args, **kwargs)
    finally:
        _drop_broken_connections()


async def run_db(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run the sync ``fn`` on the database threads and return its result."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor, functools.partial(_call, fn, args, kwargs))


def close_connections() -> None:
    """Close the connection of every database thread (on shutdown, and before a test
    database is dropped). Each thread takes exactly one of the closing tasks."""
    barrier = threading.Barrier(THREADS)

    def close() -> None:
        connections.close_all()
        barrier.wait(timeout=10)

    wait([_executor.submit(close) for _ in range(THREADS)], timeout=15)
