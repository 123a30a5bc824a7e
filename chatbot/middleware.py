"""Project middleware."""

from __future__ import annotations

import logging

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from csp.middleware import CSPMiddleware as BaseCSPMiddleware
from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.middleware import clickjacking, common, csrf, security
from django.shortcuts import render
from django.utils.deprecation import MiddlewareMixin
from whitenoise.middleware import WhiteNoiseMiddleware

from conversations.errors import OUTAGES, StorageUnavailable

logger = logging.getLogger(__name__)


class AsyncWhiteNoiseMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, usable in an async middleware chain.

    WhiteNoise's middleware is sync-only, and one sync middleware makes Django run every
    request, the async chat send included, in a thread through async_to_sync. Serving a
    static file needs no I/O beyond what the response does itself, so the same lookup runs
    as is and anything else is awaited down the async chain.
    """

    async_capable = True
    sync_capable = True

    def __init__(self, get_response=None, settings=None) -> None:
        if settings is None:
            super().__init__(get_response)
        else:
            super().__init__(get_response, settings)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        return super().__call__(request)

    async def __acall__(self, request):
        if self.autorefresh:
            static_file = self.find_file(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return self.serve(static_file, request)
        return await self.get_response(request)


class OutageMiddleware(MiddlewareMixin):
    """A database or Redis outage answers 503 with a clear page, not a 500; the service
    comes back by itself when they do. (Only ``process_exception``: no cost per request.)"""

    def process_exception(self, request, exception):
        if not isinstance(exception, OUTAGES):
            return None
        logger.warning("service outage: %s", type(exception).__name__)
        return render(
            request,
            "503.html",
            {"detail": StorageUnavailable.default_detail},
            status=503,
        )


# --- Django's built-in middleware, without a thread per hook ------------------------------
#
# Django runs every hook of a MiddlewareMixin middleware through sync_to_async under ASGI,
# in case it touches the database: two thread hops per middleware per request (and a
# thread started per request to host them), about a quarter of the CPU of a chat send.
# The hooks below do no I/O (they read headers and cookies and build lazy objects), so they
# run inline on the event loop; the two that can write (a modified session, stored flash
# messages) still go to a thread in exactly those cases. Under a sync handler (the test
# client, WSGI) they behave as Django's own classes.
#
# Settings keep Django's own paths, which its system checks (check --deploy, admin) look
# for by name; the ASGI handler in chatbot.asgi swaps these in when it builds its chain.


class InlineHooks(MiddlewareMixin):
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
        response = response or await self.get_response(request)
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


INLINE_EQUIVALENTS = {
    "django.middleware.security.SecurityMiddleware": "chatbot.middleware.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware": (
        "chatbot.middleware.SessionMiddleware"
    ),
    "django.middleware.common.CommonMiddleware": "chatbot.middleware.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware": "chatbot.middleware.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware": (
        "chatbot.middleware.AuthenticationMiddleware"
    ),
    "django.contrib.messages.middleware.MessageMiddleware": (
        "chatbot.middleware.MessageMiddleware"
    ),
    "django.middleware.clickjacking.XFrameOptionsMiddleware": (
        "chatbot.middleware.XFrameOptionsMiddleware"
    ),
    "csp.middleware.CSPMiddleware": "chatbot.middleware.CSPMiddleware",
}


def inline_middleware(paths: list[str]) -> list[str]:
    return [INLINE_EQUIVALENTS.get(path, path) for path in paths]
