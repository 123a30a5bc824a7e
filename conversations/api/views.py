"""The conversation API: thin views over services and selectors.

Sending and regenerating are async (adrf) so that a streamed reply holds no thread while it
is open; reads, renames and deletes are ordinary sync DRF actions.
"""

from __future__ import annotations

from typing import Any

from adrf.viewsets import GenericViewSet
from drf_spectacular.plumbing import force_instance
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from attachments.selectors import marking_files, with_attached_files
from chatbot.forks.adrf import PerRouteAsyncViewSetMixin, SyncWorkDispatch
from chatbot.schema import OperationSchema
from conversations import selectors, services
from conversations.api.pagination import (
    BranchPagination,
    MessagePagination,
    SessionPagination,
)
from conversations.api.serializers import (
    SEARCH_MAX_CHARS,
    ChatReplySerializer,
    ChatRequestSerializer,
    MessageSerializer,
    QueryBooleanField,
    RegenerateSerializer,
    SessionListItemSerializer,
    SessionListQuerySerializer,
    SessionSerializer,
    SessionUpdateSerializer,
)
from conversations.api.streaming import reply_response
from conversations.db import run_db
from core.serializers import ErrorSerializer, SuccessSerializer
from sharing import services as sharing_services

ERRORS = {
    status: OpenApiResponse(ErrorSerializer, description=description)
    for status, description in {
        400: "Invalid input; `detail` names the field.",
        401: "Missing or invalid credentials.",
        403: "Chat suspended, or CSRF failure with session authentication.",
        404: "Conversation or message not found (another user's answers the same).",
        409: "A reply is still being generated, or there is nothing to regenerate.",
        413: "Request body too large.",
        429: "Rate limit, daily token quota or monthly token budget reached; see the "
        "Retry-After header.",
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

REPLY_RESPONSES: dict[int | tuple[int, str], OpenApiResponse] = {
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
    description="Search titles and message text (empty: no search); archived conversations "
    "are searched too. Each result then has a `snippet`.",
)
ARCHIVED = OpenApiParameter(
    "archived",
    OpenApiTypes.BOOL,
    OpenApiParameter.QUERY,
    description="`true`: only the archived conversations (`false`, the default: the others; "
    "a search finds both).",
)
EVERY_BRANCH = OpenApiParameter(
    "all",
    OpenApiTypes.BOOL,
    OpenApiParameter.QUERY,
    description="`true`: every message of the tree in creation order, not only the current branch.",
)
CURSOR = OpenApiParameter(
    "cursor",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    description="Where the page starts: copy the whole URL from the previous page's `Link` "
    "header. A cursor the server did not issue (or one altered) answers 400.",
)


class SessionSchema(OperationSchema):
    """PATCH here takes the whole body, as POST does (drf-spectacular describes every PATCH
    body as partial, with no field required); an update's body is required, since it must
    hold at least one field though none is required alone."""

    def _get_request_for_media_type(self, serializer, direction="request"):
        method, self.method = self.method, "POST"
        try:
            schema, required = super()._get_request_for_media_type(serializer, direction)
        finally:
            self.method = method
        return schema, required or isinstance(force_instance(serializer), SessionUpdateSerializer)


# POST and PATCH update the same way; only their operation ids differ.
RENAME_SCHEMA: dict[str, Any] = {
    "description": "Rename with `title`, switch branch with `currentMessageId` (the current "
    "leaf becomes the newest leaf under that message), set `model` or `instructions`, pin or "
    "unpin with `pinned`, archive or restore with `archived`; any of them at once. Pinning "
    "and archiving leave `updatedAt` alone.",
    "parameters": [SESSION_ID],
    "request": SessionUpdateSerializer,
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


class OnDatabaseThreads(SyncWorkDispatch):
    """Async views whose authentication, permissions and throttles run on the database
    threads (conversations.db), whose connections persist between requests."""

    async def run_sync(self, fn, *args, **kwargs):
        return await run_db(fn, *args, **kwargs)

    def streams(self) -> bool:
        """Whether this request may answer with an event stream."""
        return True

    def perform_content_negotiation(self, request, force=False):
        # Clients of the stream send "Accept: text/event-stream"; errors before the stream
        # starts are still JSON rather than 406.
        return super().perform_content_negotiation(request, force=force or self.streams())


class ChatView(OnDatabaseThreads):
    def sync_initial(self, request, *args, **kwargs) -> None:
        # The send is checked (and, when it can be, stored) in authentication's trip.
        super().sync_initial(request, *args, **kwargs)
        if request.method == "POST":
            self.data = validated(ChatRequestSerializer, request)
            self.checked = services.check_send(
                user=request.user,
                text=self.data["message"],
                session_id=self.data.get("sessionId"),
                idempotency_key=request.headers.get("Idempotency-Key"),
                edit_message_id=self.data.get("editMessageId"),
                model=self.data.get("model"),
                attachments=self.data.get("attachments"),
            )

    @extend_schema(
        operation_id="chat_send",
        summary="Send a message",
        description="Start a conversation, or continue one with `sessionId` (from its "
        "current leaf), or edit and resend with `editMessageId` (a sibling of that user "
        "message, whose branch becomes current). "
        "The user's message is saved before the model is called. A retry carrying the same "
        "`Idempotency-Key` within 24 hours answers with the first turn (header "
        "`Idempotent-Replayed: true`) instead of sending the message again.",
        request=ChatRequestSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses=REPLY_RESPONSES,
        tags=["chat"],
    )
    async def post(self, request):
        turn = await services.finish_send(self.checked)
        return await reply_response(turn, stream=self.data["stream"])


class MessagesQuerySerializer(serializers.Serializer):
    all = QueryBooleanField(
        required=False, help_text="true: every message of the tree, not just the current branch."
    )


class ChatSessionViewSet(PerRouteAsyncViewSetMixin, OnDatabaseThreads, GenericViewSet):
    """A user's conversations. Regenerating is async (its route alone); the rest is sync."""

    serializer_class = SessionSerializer
    pagination_class = SessionPagination
    lookup_url_kwarg = "session_id"
    # As ``<str:session_id>``: any id reaches the view, which answers 404 for a bad one.
    lookup_value_regex = "[^/]+"
    schema = SessionSchema()

    def streams(self) -> bool:
        return self.action == "regenerate"

    @extend_schema(
        summary="List conversations",
        description="Pinned ones first, then newest activity first; archived ones only with "
        "`archived=true`, or when a search finds them. Next page in the `Link` header.",
        parameters=[SEARCH, ARCHIVED, CURSOR, LINK_HEADER],
        responses={
            200: SessionListItemSerializer(many=True),
            400: ERRORS[400],
            401: ERRORS[401],
        },
        tags=["sessions"],
    )
    def list(self, request):
        params = validated_query(SessionListQuerySerializer, request)
        query = params.get("q", "")
        sessions = selectors.sessions_for_user(
            request.user, query=query, archived=params.get("archived", False)
        )
        if query.strip():
            sessions = selectors.with_search_excerpt(sessions, query=query)
        page = self.paginate_queryset(sessions)
        items = SessionListItemSerializer(page, many=True, context={"query": query})
        return self.get_paginated_response(items.data)

    @extend_schema(
        summary="Get a conversation",
        parameters=[SESSION_ID],
        responses={200: SessionSerializer, 401: ERRORS[401], 404: ERRORS[404]},
        tags=["sessions"],
    )
    def retrieve(self, request, session_id):
        session = selectors.get_session(user=request.user, session_id=session_id)
        return Response(SessionSerializer(session).data)

    @extend_schema(
        operation_id="chat_sessions_rename",
        summary="Update a conversation: title, branch, model, pinned, archived",
        **RENAME_SCHEMA,
    )
    def rename(self, request, session_id):
        data = validated(SessionUpdateSerializer, request)
        # First: a refused model or instructions leaves the rest of the request undone too.
        if "model" in data or "instructions" in data:
            session = services.configure_session(
                user=request.user,
                session_id=session_id,
                model=data.get("model"),
                instructions=data.get("instructions"),
            )
        if "currentMessageId" in data:
            session = services.switch_branch(
                user=request.user, session_id=session_id, message_id=data["currentMessageId"]
            )
        if "title" in data:
            session = services.rename_session(
                user=request.user, session_id=session_id, title=data["title"]
            )
        if "pinned" in data or "archived" in data:
            session = sharing_services.organize_session(
                user=request.user,
                session_id=session_id,
                pinned=data.get("pinned"),
                archived=data.get("archived"),
            )
        return Response(SessionSerializer(session).data)

    @extend_schema(
        operation_id="chat_sessions_rename_patch",
        summary="Update a conversation (PATCH)",
        **RENAME_SCHEMA,
    )
    def partial_update(self, request, session_id):
        return self.rename(request, session_id)

    @extend_schema(
        summary="Delete a conversation",
        parameters=[SESSION_ID],
        request=None,
        responses={200: SuccessSerializer, 401: ERRORS[401], 403: ERRORS[403], 404: ERRORS[404]},
        tags=["sessions"],
    )
    def destroy(self, request, session_id):
        services.delete_session(user=request.user, session_id=session_id)
        return Response({"success": True})

    @extend_schema(
        operation_id="chat_sessions_messages_list",
        summary="A conversation's messages",
        description="The current branch, oldest first; with `all=true` every message of the "
        "tree in creation order. Next page in the `Link` header. A reply whose writer died "
        "is reported `failed`.",
        parameters=[SESSION_ID, EVERY_BRANCH, CURSOR, LINK_HEADER],
        responses={200: MessageSerializer(many=True), **{c: ERRORS[c] for c in (400, 401, 404)}},
        tags=["sessions"],
    )
    @action(detail=True, pagination_class=MessagePagination)
    def messages(self, request, session_id):
        every_branch = validated_query(MessagesQuerySerializer, request).get("all", False)
        if every_branch:
            messages = selectors.messages_for_session(
                user=request.user, session_id=session_id, every_branch=True
            )
            paginator, page = self.paginator, self.paginate_queryset(marking_files(messages))
        else:
            session = selectors.get_session(user=request.user, session_id=session_id)
            paginator = BranchPagination()
            page = paginator.paginate_window(
                lambda after, count: marking_files(
                    selectors.branch_page(session, after=after, count=count)
                ),
                request,
            )
        page = selectors.with_sibling_ids(page)
        with_attached_files(page)
        return paginator.get_paginated_response(MessageSerializer(page, many=True).data)

    @extend_schema(  # type: ignore[type-var]  # stubs: @action views are sync (adrf: async)
        operation_id="chat_sessions_regenerate",
        summary="Answer a message again",
        description="A new reply to the user message that `messageId` (default: the current "
        "leaf's reply) answers, as a sibling of the old replies, which are kept; the new reply "
        "becomes the current leaf.",
        request=RegenerateSerializer,
        responses=REPLY_RESPONSES,
        parameters=[SESSION_ID],
        tags=["chat"],
    )
    @action(detail=True, methods=["post"])
    async def regenerate(self, request, session_id):
        data = validated(RegenerateSerializer, request)
        turn = await services.regenerate_reply(
            user=request.user, session_id=session_id, message_id=data.get("messageId")
        )
        return await reply_response(turn, stream=data["stream"])
