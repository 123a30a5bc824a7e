"""Django's ASGI request handling without the thread it starts for every request.

``NoRequestThreadASGIHandler.handle`` copies ``django.core.handlers.asgi.ASGIHandler.handle``
(Django 5.2.19); ``close_response`` copies ``django.http.HttpResponseBase.close``. Django
sends ``request_started`` and closes the response through ``sync_to_async`` inside a
``ThreadSensitiveContext`` made per request: the first of those hops starts a thread for
the request, and leaving the context starts another to join it (asgiref 3.13). For a
chat send, whose database work runs on ``conversations.db``'s threads, that thread has
nothing to do: ``close_old_connections`` and ``reset_queries`` act on the database
connections of the thread they run in, and a thread made for the request has none. So
they are left out, and the other receivers Django connects (``close_caches``,
``reset_urlconf``, which act on context-local state) run on the loop.

A request that did hop to its context's thread (a sync view, a sync iterator) closes there
as in Django, since that thread holds its connections; so does any request while an
unknown receiver is connected to either signal.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

from asgiref.sync import SyncToAsync, sync_to_async
from django.core import signals
from django.core.cache import close_caches
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import reset_urlconf
from django.db import close_old_connections, reset_queries
from django.http import HttpResponseBase
from django.urls import set_script_prefix

# Receivers that act on the current thread's database connections: none in a new thread.
THREAD_DATABASE_RECEIVERS = frozenset({close_old_connections, reset_queries})
# Receivers that act on context-local state, with no I/O: the same on the loop.
CONTEXT_RECEIVERS = frozenset({close_caches, reset_urlconf})


def loop_receivers(signal, sender) -> list | None:
    """The receivers of ``signal`` that the loop runs in place of Django's thread, or None
    when one of them is not known to be safe there."""
    sync_receivers, async_receivers = signal._live_receivers(sender)
    if async_receivers or not set(sync_receivers) <= THREAD_DATABASE_RECEIVERS | CONTEXT_RECEIVERS:
        return None
    return [receiver for receiver in sync_receivers if receiver not in THREAD_DATABASE_RECEIVERS]


def request_thread_started() -> bool:
    """Whether this request's ThreadSensitiveContext has started its thread."""
    context = SyncToAsync.thread_sensitive_context.get(None)
    return context is not None and context in SyncToAsync.context_to_thread_executor


async def send_request_started(sender, scope) -> None:
    receivers = loop_receivers(signals.request_started, sender)
    if receivers is None:
        await signals.request_started.asend(sender=sender, scope=scope)
        return
    for receiver in receivers:
        receiver(signal=signals.request_started, sender=sender, scope=scope)


async def close_response(response: Any) -> None:
    """``response.close()``, on the loop unless the request's thread has work to do."""
    receivers = loop_receivers(signals.request_finished, response._handler_class)
    if receivers is None or request_thread_started():
        await sync_to_async(response.close)()
        return
    for closer in response._resource_closers:
        # As Django's close: a closer that fails must not stop the others.
        with contextlib.suppress(Exception):
            closer()
    response._resource_closers.clear()
    response.closed = True
    for receiver in receivers:
        receiver(signal=signals.request_finished, sender=response._handler_class)


class NoRequestThreadASGIHandler(ASGIHandler):
    """Django's ASGI handler, whose ``handle`` starts no thread for the request."""

    async def handle(self, scope, receive, send):
        # Receive the HTTP request body as a stream object.
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        # Request is complete and can be served.
        set_script_prefix(get_script_prefix(scope))
        await send_request_started(self.__class__, scope)  # fork: on the loop
        # Get the request and check for basic issues.
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            error_response = cast(HttpResponseBase, error_response)  # one or the other is None
            body_file.close()
            await self.send_response(error_response, send)
            await sync_to_async(error_response.close)()
            return

        async def process_request(request, send):
            response = await self.run_get_response(request)
            # Client disconnected during send_response (ignore exception).
            with contextlib.suppress(asyncio.CancelledError):
                await self.send_response(response, send)

            return response

        # Try to catch a disconnect while getting response.
        tasks = [
            # Check the status of these tasks and (optionally) terminate them
            # in this order. The listen_for_disconnect() task goes first
            # because it should not raise unexpected errors that would prevent
            # us from cancelling process_request().
            asyncio.create_task(self.listen_for_disconnect(receive)),
            asyncio.create_task(process_request(request, send)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        # Now wait on both tasks (they may have both finished by now).
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    # Ignore client disconnects.
                    pass
                except AssertionError:
                    body_file.close()
                    raise
            else:
                # Allow views to handle cancellation.
                task.cancel()
                # Task re-raised the CancelledError as expected.
                with contextlib.suppress(asyncio.CancelledError):
                    await task

        try:
            response = tasks[1].result()
        except asyncio.CancelledError:
            await signals.request_finished.asend(sender=self.__class__)
        else:
            await close_response(response)  # fork: on the loop unless the thread was used

        body_file.close()
