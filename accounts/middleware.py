"""Browser sessions a user can see and end, and the two-factor set-up the policy requires.

Both run in sync and async stacks alike, so the chat's async views keep their fast path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from allauth.usersessions.models import UserSession
from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.utils.translation import gettext as _

from chatbot.middleware import outage_response
from core.errors import OUTAGES

# Set in the session at sign-in when CHATBOT_REQUIRE_MFA covers a user without a second
# factor; cleared when one is added (accounts.signals).
MFA_ENROLMENT_SESSION_KEY = "accounts_mfa_enrolment_required"


class _HybridMiddleware:
    sync_capable = True
    async_capable = True
    # Each subclass defines both.
    __acall__: Callable[[HttpRequest], Awaitable[HttpResponseBase]]
    sync_call: Callable[[HttpRequest], HttpResponseBase]

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        return self.sync_call(request)


class UserSessionsMiddleware(_HybridMiddleware):
    """allauth's user-session tracking, writing "last seen" at most once a
    ``CHATBOT_SESSION_SEEN_INTERVAL`` per browser instead of on every request."""

    def _due(self, request: HttpRequest) -> str | None:
        session_key = getattr(request, "session", None) and request.session.session_key
        return f"usersession-seen:{session_key}" if session_key else None

    def _record(self, request: HttpRequest) -> None:
        key = self._due(request)
        if (
            key
            and request.user.is_authenticated
            and cache.add(key, 1, settings.CHATBOT_SESSION_SEEN_INTERVAL)
        ):
            UserSession.objects.create_from_request(request)

    async def _arecord(self, request: HttpRequest) -> None:
        key = self._due(request)
        if (
            key
            and (await request.auser()).is_authenticated
            and await cache.aadd(key, 1, settings.CHATBOT_SESSION_SEEN_INTERVAL)
        ):
            await sync_to_async(UserSession.objects.create_from_request)(request)

    def sync_call(self, request: HttpRequest) -> HttpResponse:
        try:
            self._record(request)
        except OUTAGES as exc:
            return outage_response(request, exc)
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        try:
            await self._arecord(request)
        except OUTAGES as exc:
            return await sync_to_async(outage_response)(request, exc)
        return await self.get_response(request)


class MfaEnrolmentMiddleware(_HybridMiddleware):
    """A user the policy covers sets up a second factor before anything else: pages
    redirect to the two-factor page, the session-authenticated API answers 403."""

    def _allowed(self, path: str) -> bool:
        open_prefixes = (
            reverse("mfa_index"),
            reverse("account_logout"),
            reverse("account_reauthenticate"),
            f"/{settings.STATIC_URL.lstrip('/')}",
        )
        return path.startswith(open_prefixes)

    def _refuse(self, request: HttpRequest) -> HttpResponse:
        detail = _(
            "Set up two-factor authentication (an authenticator app or a passkey) "
            "before you continue."
        )
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": detail, "code": "mfa_required"}, status=403)
        messages.warning(request, detail)
        return HttpResponseRedirect(reverse("mfa_index"))

    def sync_call(self, request: HttpRequest) -> HttpResponse:
        try:
            required = request.session.get(MFA_ENROLMENT_SESSION_KEY)
        except OUTAGES as exc:
            return outage_response(request, exc)
        if required and not self._allowed(request.path):
            return self._refuse(request)
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        try:
            required = await request.session.aget(MFA_ENROLMENT_SESSION_KEY)
        except OUTAGES as exc:
            return await sync_to_async(outage_response)(request, exc)
        if required and not self._allowed(request.path):
            return await sync_to_async(self._refuse)(request)
        return await self.get_response(request)
