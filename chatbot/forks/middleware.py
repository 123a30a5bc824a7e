"""Django's built-in middleware with hooks that run on the event loop instead of a thread.

Forks ``django.utils.deprecation.MiddlewareMixin.__acall__`` (Django 5.2.19): under ASGI it
runs every hook through ``sync_to_async``, two thread hops per middleware per request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from csp.middleware import CSPMiddleware as BaseCSPMiddleware
from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.middleware import clickjacking, common, csrf, locale, security
from django.utils.deprecation import MiddlewareMixin

# The hooks below do no I/O (they read headers and cookies and build lazy objects), so they
# run inline; the two that can write (a modified session, stored flash messages) still go
# to a thread in exactly those cases. Under a sync handler (the test client, WSGI) they
# behave as Django's own classes. Settings keep Django's own paths, which its system checks
# look for by name; chatbot.forks.handler swaps these in when the ASGI handler loads them.


class InlineHooks(MiddlewareMixin):
    # Declared for the type checker only: hasattr() below still tells whether a class has it.
    process_view: Callable[..., Any]

    def __init__(self, get_response) -> None:
        super().__init__(get_response)
        if self.async_mode and hasattr(self, "process_view"):
            sync_process_view = self.process_view

            async def process_view(request, callback, callback_args, callback_kwargs):
                return sync_process_view(request, callback, callback_args, callback_kwargs)

            self.process_view = process_view

    def response_needs_thread(self, request, response) -> bool:
        return False

    async def __acall__(self, request):
        response = None
        if hasattr(self, "process_request"):
            response = self.process_request(request)
        # Under the async handler get_response is a coroutine function (Django's own
        # __acall__ assumes the same).
        response = response or await self.get_response(request)  # type: ignore[misc]
        if hasattr(self, "process_response"):
            if self.response_needs_thread(request, response):
                response = await sync_to_async(self.process_response, thread_sensitive=True)(
                    request, response
                )
            else:
                response = self.process_response(request, response)
        return response


class SecurityMiddleware(InlineHooks, security.SecurityMiddleware):
    pass


class SessionMiddleware(InlineHooks, sessions.SessionMiddleware):
    def response_needs_thread(self, request, response) -> bool:
        session = getattr(request, "session", None)
        return session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class CommonMiddleware(InlineHooks, common.CommonMiddleware):
    pass


class CsrfViewMiddleware(InlineHooks, csrf.CsrfViewMiddleware):
    def __init__(self, get_response) -> None:
        # The secret lives in a cookie; kept in the session it would need the database.
        assert not settings.CSRF_USE_SESSIONS, "CSRF_USE_SESSIONS needs Django's middleware"
        super().__init__(get_response)


class AuthenticationMiddleware(InlineHooks, auth.AuthenticationMiddleware):
    pass


class MessageMiddleware(InlineHooks, messages.MessageMiddleware):
    def response_needs_thread(self, request, response) -> bool:
        storage = getattr(request, "_messages", None)
        return storage is not None and (storage.used or storage.added_new)


class XFrameOptionsMiddleware(InlineHooks, clickjacking.XFrameOptionsMiddleware):
    pass


class CSPMiddleware(InlineHooks, BaseCSPMiddleware):
    pass


class LocaleMiddleware(InlineHooks, locale.LocaleMiddleware):
    pass


INLINE_EQUIVALENTS = {
    "django.middleware.security.SecurityMiddleware": f"{__name__}.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware": f"{__name__}.SessionMiddleware",
    "django.middleware.common.CommonMiddleware": f"{__name__}.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware": f"{__name__}.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware": (
        f"{__name__}.AuthenticationMiddleware"
    ),
    "django.contrib.messages.middleware.MessageMiddleware": f"{__name__}.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware": (
        f"{__name__}.XFrameOptionsMiddleware"
    ),
    "csp.middleware.CSPMiddleware": f"{__name__}.CSPMiddleware",
    "django.middleware.locale.LocaleMiddleware": f"{__name__}.LocaleMiddleware",
}


def inline_middleware(paths: list[str]) -> list[str]:
    """``paths`` (settings.MIDDLEWARE) with Django's classes swapped for the inline ones."""
    return [INLINE_EQUIVALENTS.get(path, path) for path in paths]
