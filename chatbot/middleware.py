"""Project middleware. (The async variants of Django's and WhiteNoise's are in chatbot.forks.)"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.deprecation import MiddlewareMixin

from chatbot.errors import is_api_path
from core.errors import OUTAGES, StorageUnavailable

logger = logging.getLogger(__name__)


class OutageMiddleware(MiddlewareMixin):
    """A database or Redis outage answers 503 with a clear page, not a 500; the service
    comes back by itself when they do. (Only ``process_exception``: no cost per request.)"""

    def process_exception(self, request, exception):
        if not isinstance(exception, OUTAGES):
            return None
        return outage_response(request, exception)


def outage_response(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The 503 for an outage: JSON under /api/, the page elsewhere. Middleware that reads
    the session or the user before the view answers with it too, since Django turns an
    exception raised in middleware into a 500 before ``process_exception`` could see it."""
    logger.warning("service outage: %s", type(exception).__name__)
    detail = StorageUnavailable.default_detail
    if is_api_path(request.path):
        return JsonResponse({"detail": detail, "code": "unavailable"}, status=503)
    return render(request, "503.html", {"detail": detail}, status=503)
