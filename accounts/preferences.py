"""The language chosen in Settings, applied to each request after the browser's."""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from accounts.models import User
from chatbot.middleware import outage_response
from core.errors import OUTAGES


class UserLanguageMiddleware:
    """Runs after ``LocaleMiddleware`` (which follows the browser's Accept-Language): a
    signed-in user's own choice wins. Sync and async alike, so async views stay async."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if iscoroutinefunction(self):
            return self._acall(request)
        try:
            _apply(request, request.user)
        except OUTAGES as exc:
            return outage_response(request, exc)
        return self.get_response(request)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        try:
            _apply(request, await request.auser())
        except OUTAGES as exc:
            return await sync_to_async(outage_response)(request, exc)
        return await self.get_response(request)


def _apply(request: HttpRequest, user: User | AnonymousUser) -> None:
    if user.is_authenticated and user.language:
        translation.activate(user.language)
        request.LANGUAGE_CODE = translation.get_language()
