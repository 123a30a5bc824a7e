"""ASGI entry point: HTTP through Django, WebSockets through Channels.

Served by uvicorn as ``chatbot.asgi:application``.
"""

import os

import django
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings")

# Django must be set up before anything imports models.
django.setup(set_prefix=False)

from django.conf import settings  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from chatbot.middleware import inline_middleware  # noqa: E402


class InlineMiddlewareASGIHandler(ASGIHandler):
    """Django's ASGI handler, with its built-in middleware swapped for the variants in
    chatbot.middleware that run their hooks on the event loop instead of in a thread."""

    def load_middleware(self, is_async=False):
        with override_settings(MIDDLEWARE=inline_middleware(settings.MIDDLEWARE)):
            super().load_middleware(is_async=is_async)


django_asgi_app = InlineMiddlewareASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from conversations.lifespan import LifespanMiddleware  # noqa: E402
from conversations.routing import websocket_urlpatterns  # noqa: E402

application = LifespanMiddleware(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": AllowedHostsOriginValidator(
                AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
            ),
        }
    )
)
