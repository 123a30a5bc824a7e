"""Project middleware. (The async variants of Django's and WhiteNoise's are in chatbot.forks.)"""

from __future__ import annotations

import logging

from django.shortcuts import render
from django.utils.deprecation import MiddlewareMixin

from conversations.errors import OUTAGES, StorageUnavailable

logger = logging.getLogger(__name__)


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
