"""The language chosen in Settings, applied to each request after the browser's."""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.utils import translation


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
        _apply(request, request.user)
        return self.get_response(request)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        _apply(request, await request.auser())
        return await self.get_response(request)


def _apply(request: HttpRequest, user) -> None:
    if user.is_authenticated and user.language:
        translation.activate(user.language)
        request.LANGUAGE_CODE = translation.get_language()
