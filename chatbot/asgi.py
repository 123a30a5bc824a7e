"""ASGI entry point: HTTP through Django, WebSockets through Channels.

Served by uvicorn as ``chatbot.asgi:application``.
"""

import io
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings")

# Django must be set up before anything imports models.
django.setup(set_prefix=False)

from django.conf import settings  # noqa: E402
from django.http import HttpResponse  # noqa: E402

from chatbot.errors import is_api_path, json_error  # noqa: E402
from chatbot.forks.handler import InlineMiddlewareLoading  # noqa: E402
from chatbot.forks.request_thread import NoRequestThreadASGIHandler  # noqa: E402


class BodyTooLarge(Exception):
    """A request body without a Content-Length grew past the limit while it was read."""


def declared_length(scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def capped(receive, limit: int):
    """``receive`` that raises ``BodyTooLarge`` once the body passes ``limit`` bytes."""
    received = 0

    async def receive_within_limit():
        nonlocal received
        message = await receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise BodyTooLarge()
        return message

    return receive_within_limit


def too_large(scope, limit: int) -> HttpResponse:
    detail = f"The request body is larger than the limit of {limit} bytes."
    response: HttpResponse
    if is_api_path(scope["path"]):
        response = json_error(detail, code="too_large", status=413, path=scope["path"])
    else:
        response = HttpResponse(detail, status=413, content_type="text/plain; charset=utf-8")
    response["Content-Length"] = str(len(response.content))
    # The rest of the body is never read: the connection cannot carry another request.
    response["Connection"] = "close"
    return response


class BoundedBodyASGIHandler(InlineMiddlewareLoading, NoRequestThreadASGIHandler):
    """Django's ASGI handler (with the inline middleware of chatbot.forks, and no thread
    per request: chatbot.forks.request_thread), bounding request
    bodies by ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (or the path's own limit in
    ``BODY_LIMITS_BY_PATH``).

    Django's handler reads a body of any size to the end before any view or check runs: here
    a declared ``Content-Length`` over the limit is refused before a byte of the body is
    read, and a chunked body is refused as soon as it passes the limit. Both answer 413.
    """

    async def handle(self, scope, receive, send):
        limit = settings.BODY_LIMITS_BY_PATH.get(
            scope["path"], settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        )
        if limit is None:
            await super().handle(scope, receive, send)
            return
        declared = declared_length(scope)
        if declared is not None and declared > limit:
            await self.send_response(too_large(scope, limit), send)
            return
        try:
            await super().handle(scope, capped(receive, limit), send)
        except BodyTooLarge:
            # Raised only while Django's read_body reads the body, before any answer.
            await self.send_response(too_large(scope, limit), send)

    def create_request(self, scope, body_file):
        request, error_response = super().create_request(scope, body_file)
        if request is not None and "CONTENT_LENGTH" not in request.META:
            # A chunked body has no Content-Length, and DRF reads a request without one as
            # empty. The body has been read in full by now, so its length is known.
            size = body_file.seek(0, io.SEEK_END)
            body_file.seek(0)
            if size:
                request.META["CONTENT_LENGTH"] = str(size)
        return request, error_response


django_asgi_app = BoundedBodyASGIHandler()

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
