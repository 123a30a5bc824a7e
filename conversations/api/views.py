"""The conversation API: thin views over services and selectors.

Sending and regenerating are async (adrf) so that a streamed reply holds no thread while it
is open; reads, renames and deletes are ordinary sync DRF views.
"""

from __future__ import annotations

from adrf.views import APIView as AsyncAPIView
from asgiref.sync import iscoroutinefunction
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations import selectors, services
from conversations.api.pagination import MessagePagination, SessionPagination
from conversations.api.serializers import (
    ChatReplySerializer,
    ChatRequestSerializer,
    ErrorSerializer,
    MessageSerializer,
    RenameSerializer,
    SessionSerializer,
    StreamOptionSerializer,
    SuccessSerializer,
)
from conversations.api.streaming import reply_response
from conversations.db import run_db

SEARCH_MAX_CHARS = 200

ERRORS = {
    status: OpenApiResponse(ErrorSerializer, description=description)
    for status, description in {
        400: "Invalid input; `detail` names the field.",
        401: "Missing or invalid credentials.",
        403: "Chat suspended, or CSRF failure with session authentication.",
        404: "Conversation not found (another user's conversation answers the same).",
        409: "A reply is still being generated, or there is nothing to regenerate.",
        413: "Request body too large.",
        429: "Rate limit or daily token quota reached; see the Retry-After header.",
        503: "The model is unavailable; the user's message is kept.",
    }.items()
}

SSE_DESCRIPTION = (
    "Without `stream`: the complete reply as JSON. "
    "With `stream: true`: Server-Sent Events, one JSON object per `data:` line.\n\n"
    "`event: session` `{sessionId, userMessageId}`, then `event: delta` `{content}` "
    "(repeated), then `event: done` `{message, sessionId, messageId, status}` or "
    "`event: error` `{detail, code, messageId}`. Comment lines (`: keep-alive`) may appear."
)

# One Server-Sent Event; ``data`` is a JSON object whose shape depends on ``event``.
SSE_EVENT = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": ["session", "delta", "done", "error"]},
        "data": {"type": "string", "description": "One JSON object."},
    },
    "required": ["event", "data"],
}

REPLY_RESPONSES = {
    (200, "application/json"): OpenApiResponse(ChatReplySerializer, description=SSE_DESCRIPTION),
    (200, "text/event-stream"): OpenApiResponse(SSE_EVENT, description=SSE_DESCRIPTION),
    **{code: ERRORS[code] for code in (400, 401, 403, 404, 409, 413, 429, 503)},
}

SESSION_ID = OpenApiParameter(
    "session_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The conversation."
)
LINK_HEADER = OpenApiParameter(
    "Link",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=[200],
    description='The next page, as `<url>; rel="next"` (absent on the last page).',
)

# The rules of services.clean_idempotency_key, for the headers HTTP can carry (latin-1, and
# without surrounding spaces, which HTTP strips).
_KEY_CHAR = r"!-~\xa1-\xac\xae-\xff"
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": f"^[{_KEY_CHAR}](?:[ {_KEY_CHAR}]*[{_KEY_CHAR}])?$",
    },
    OpenApiParameter.HEADER,
    description="Any unique string (1-255 printable characters) per logical send. A retry "
    "with the same key within 24 hours answers with the first turn instead of sending again.",
)
SEARCH = OpenApiParameter(
    "q",
    {"type": "string", "maxLength": SEARCH_MAX_CHARS, "pattern": "^[^\\x00]*$"},
    OpenApiParameter.QUERY,
    description="Search titles and message text (empty: no search).",
)
CURSOR = OpenApiParameter(
    "cursor",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    description="Where the page starts: copy the whole URL from the previous page's `Link` "
    "header. A cursor the server did not issue (or one altered) answers 400.",
)


class WholeBodySchema(AutoSchema):
    """PATCH here takes the whole body, as POST does (drf-spectacular describes every PATCH
    body as partial, with no field required)."""

    def _get_request_for_media_type(self, serializer, direction="request"):
        method, self.method = self.method, "POST"
        try:
            return super()._get_request_for_media_type(serializer, direction)
        finally:
            self.method = method


# POST and PATCH rename the same way; only their operation ids differ.
RENAME_SCHEMA = {
    "parameters": [SESSION_ID],
    "request": RenameSerializer,
    "responses": {
        200: SessionSerializer,
        **{code: ERRORS[code] for code in (400, 401, 403, 404, 413)},
    },
    "tags": ["sessions"],
}


def validated(serializer_class: type[serializers.Serializer], request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def validated_query(serializer_class: type[serializers.Serializer], request) -> dict:
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class ReplyView(AsyncAPIView):
    """Base of the views that answer with a reply, as JSON or as an event stream."""

    async def async_dispatch(self, request, *args, **kwargs):
        # adrf's own dispatch, except that authentication, permissions and throttles run
        # on the database threads (conversations.db), whose connections persist, instead
        # of a thread started for this request that opens and closes a connection of its
        # own: that was a third of the CPU of a chat send.
        self.args, self.kwargs = args, kwargs
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        self.headers = self.default_response_headers
        try:
            self.prepared = await run_db(self._initial_then_prepare, request, *args, **kwargs)
            method = request.method.lower()
            handler = self.http_method_not_allowed
            if method in self.http_method_names:
                handler = getattr(self, method, self.http_method_not_allowed)
            if iscoroutinefunction(handler):
                response = await handler(request, *args, **kwargs)
            else:  # OPTIONS, or a method not allowed
                response = await run_db(handler, request, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - DRF turns it into the error response
            response = self.handle_exception(exc)
        self.response = self.finalize_response(request, response, *args, **kwargs)
        return self.response

    def _initial_then_prepare(self, request, *args, **kwargs):
        self.initial(request, *args, **kwargs)
        if request.method == "POST":
            return self.prepare(request, *args, **kwargs)
        return None

    def prepare(self, request, *args, **kwargs):
        """Synchronous work of a POST done in the same database trip as authentication,
        right after it; its result is ``self.prepared``. None: nothing done."""
        return None

    def perform_content_negotiation(self, request, force=False):
        # Clients of the stream send "Accept: text/event-stream"; errors before the stream
        # starts are still JSON rather than 406.
        return super().perform_content_negotiation(request, force=True)


class ChatView(ReplyView):
    def prepare(self, request):
        # Without a moderation call to await, the turn is stored in authentication's trip.
        data = validated(ChatRequestSerializer, request)
        if services.needs_moderation():
            return data, None
        turn = services.begin_turn_now(
            user=request.user,
            text=data["message"],
            session_id=data.get("sessionId"),
            key=request.headers.get("Idempotency-Key"),
        )
        return data, turn

    @extend_schema(
        operation_id="chat_send",
        summary="Send a message",
        description="Start a conversation, or continue one with `sessionId`. "
        "The user's message is saved before the model is called. A retry carrying the same "
        "`Idempotency-Key` within 24 hours answers with the first turn (header "
        "`Idempotent-Replayed: true`) instead of sending the message again.",
        request=ChatRequestSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses=REPLY_RESPONSES,
        tags=["chat"],
    )
    async def post(self, request):
        data, turn = self.prepared
        if turn is None:
            turn = await services.begin_turn(
                user=request.user,
                text=data["message"],
                session_id=data.get("sessionId"),
                idempotency_key=request.headers.get("Idempotency-Key"),
            )
        return await reply_response(turn, stream=data["stream"])


class RegenerateView(ReplyView):
    @extend_schema(
        operation_id="chat_sessions_regenerate",
        summary="Answer the last message again",
        description="Replaces the reply to the conversation's last user message.",
        request=StreamOptionSerializer,
        responses=REPLY_RESPONSES,
        parameters=[SESSION_ID],
        tags=["chat"],
    )
    async def post(self, request, session_id):
        data = validated(StreamOptionSerializer, request)
        turn = await services.begin_regenerate(user=request.user, session_id=session_id)
        return await reply_response(turn, stream=data["stream"])


class SearchSerializer(serializers.Serializer):
    q = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=SEARCH_MAX_CHARS,
        help_text="Search titles and message text.",
    )

    def validate_q(self, value: str) -> str:
        if "\x00" in value:
            raise serializers.ValidationError("The search contains characters not allowed.")
        return value


@extend_schema(
    summary="List conversations",
    description="Newest activity first. Next page in the `Link` header.",
    parameters=[SEARCH, CURSOR, LINK_HEADER],
    responses={200: SessionSerializer(many=True), 400: ERRORS[400], 401: ERRORS[401]},
    tags=["sessions"],
)
class SessionListView(ListAPIView):
    serializer_class = SessionSerializer
    pagination_class = SessionPagination

    def get_queryset(self):
        query = validated_query(SearchSerializer, self.request).get("q", "")
        return selectors.sessions_for_user(self.request.user, query=query)


class SessionDetailView(APIView):
    schema = WholeBodySchema()

    @extend_schema(
        summary="Get a conversation",
        parameters=[SESSION_ID],
        responses={200: SessionSerializer, 401: ERRORS[401], 404: ERRORS[404]},
        tags=["sessions"],
    )
    def get(self, request, session_id):
        session = selectors.get_session(user=request.user, session_id=session_id)
        return Response(SessionSerializer(session).data)

    @extend_schema(
        operation_id="chat_sessions_rename", summary="Rename a conversation", **RENAME_SCHEMA
    )
    def post(self, request, session_id):
        data = validated(RenameSerializer, request)
        session = services.rename_session(
            user=request.user, session_id=session_id, title=data["title"]
        )
        return Response(SessionSerializer(session).data)

    @extend_schema(
        operation_id="chat_sessions_rename_patch",
        summary="Rename a conversation (PATCH)",
        **RENAME_SCHEMA,
    )
    def patch(self, request, session_id):
        return self.post(request, session_id)

    @extend_schema(
        summary="Delete a conversation",
        parameters=[SESSION_ID],
        request=None,
        responses={200: SuccessSerializer, 401: ERRORS[401], 403: ERRORS[403], 404: ERRORS[404]},
        tags=["sessions"],
    )
    def delete(self, request, session_id):
        services.delete_session(user=request.user, session_id=session_id)
        return Response({"success": True})


@extend_schema(
    summary="A conversation's messages",
    description="Oldest first. Next page in the `Link` header. A reply whose writer died "
    "is reported `failed`.",
    parameters=[SESSION_ID, CURSOR, LINK_HEADER],
    responses={200: MessageSerializer(many=True), **{c: ERRORS[c] for c in (400, 401, 404)}},
    tags=["sessions"],
)
class MessageListView(ListAPIView):
    serializer_class = MessageSerializer
    pagination_class = MessagePagination

    def get_queryset(self):
        session = selectors.get_session(
            user=self.request.user, session_id=self.kwargs["session_id"]
        )
        services.fail_stale_replies(session_id=session.pk)
        return session.messages.order_by("sequence")
