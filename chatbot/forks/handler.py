"""Loading the inline middleware (chatbot.forks.middleware) into Django's ASGI handler.

Wraps ``django.core.handlers.base.BaseHandler.load_middleware`` (Django 5.2.19), which
reads ``settings.MIDDLEWARE``: settings keep Django's paths for its system checks.
"""

from __future__ import annotations

from django.conf import settings
from django.test.utils import override_settings

from chatbot.forks.middleware import inline_middleware


class InlineMiddlewareLoading:
    """Mixin for an ASGI handler: its chain uses the inline variants of Django's middleware."""

    def load_middleware(self, is_async: bool = False) -> None:
        with override_settings(MIDDLEWARE=inline_middleware(settings.MIDDLEWARE)):
            # A mixin: the handler class it is mixed into has load_middleware.
            super().load_middleware(is_async=is_async)  # type: ignore[misc]
