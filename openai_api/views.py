"""The OpenAI-compatible endpoints: thin async views over ``openai_api.services`` and the
send door of ``conversations``, authenticated by the personal API token.

As ``POST /api/chat`` does, authentication, the request's checks and the send itself take
one trip to the database threads; the reply streams from its own background run, so a
client that goes away mid-stream loses nothing.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from accounts.api_auth import BearerTokenAuthentication
from chatbot.forks.adrf import SyncWorkDispatch
from chatbot.schema import OperationSchema
from conversations.api.parsers import LimitedJSONParser
from conversations.db import run_db
from conversations.errors import SessionNotFound
from core.errors import ChatError
from openai_api import services
from openai_api.errors import SESSION_HEADER, OpenAIError, exception_handler
from openai_api.requests import read_model, read_request
from openai_api.responses import completion_response
from openai_api.serializers import (
    ChatCompletionRequestSerializer,
    ChatCompletionSerializer,
    OpenAIErrorSerializer,
    OpenAIModelListSerializer,
)

ERROR_DESCRIPTIONS = {
    400: "Invalid request, or a parameter this server does not support (`param` names "
    "it); a message refused by moderation (`content_policy_violation`).",
    401: "Missing or invalid API key (`invalid_api_key`).",
    403: "Chat suspended.",
    404: "Unknown model (`model_not_found`), or a conversation id that is not one of "
    "yours (`session_not_found`).",
    409: "A reply is still being generated in this conversation.",
    413: "Request body too large.",
    429: "Rate limit, daily token quota or monthly token budget reached "
    "(`rate_limit_exceeded`); see Retry-After.",
    503: "The model is unavailable; the user's message is kept.",
}
ERRORS = {
    status: OpenApiResponse(OpenAIErrorSerializer, description=description)
    for status, description in ERROR_DESCRIPTIONS.items()
}
SESSION_ID = OpenApiParameter(
    SESSION_HEADER,
    OpenApiTypes.UUID,
    OpenApiParameter.HEADER,
    description="Continue this conversation of yours: only the last message is sent, and "
    "the stored history is the context. Without it, a new conversation is made.",
)
SESSION_ID_ANSWER = OpenApiParameter(
    SESSION_HEADER,
    OpenApiTypes.UUID,
    OpenApiParameter.HEADER,
    response=True,
    description="The conversation that holds this call.",
)
STREAM_DESCRIPTION = (
    "Without `stream`: a `chat.completion`. With `stream: true`: Server-Sent Events, "
    "`data: {chat.completion.chunk}` lines: the first with the role, then content deltas, "
    "a chunk with `finish_reason`, a usage chunk if `stream_options.include_usage`, then "
    '`data: [DONE]`. A failure after the stream started is a `data: {"error": ...}` line.'
)


class OpenAIView(SyncWorkDispatch):
    """Token-authenticated, JSON in and out, errors in OpenAI's shape."""

    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]
    parser_classes = [LimitedJSONParser]
    schema = OperationSchema()
    session_id = None  # the conversation the answer names in X-Chat-Session-Id

    async def run_sync(self, fn, *args, **kwargs):
        return await run_db(fn, *args, **kwargs)

    def get_exception_handler(self):
        return exception_handler

    def perform_content_negotiation(self, request, force=False):
        # Streaming clients send "Accept: text/event-stream"; answer them, not 406.
        return super().perform_content_negotiation(request, force=True)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if self.session_id is not None:
            response[SESSION_HEADER] = str(self.session_id)
        return response


class ModelsView(OpenAIView):
    @extend_schema(
        operation_id="openai_models_list",
        summary="Models you may use (OpenAI format)",
        description="The catalogue's enabled models your groups may use, the default first.",
        responses={200: OpenAIModelListSerializer, 401: ERRORS[401]},
        tags=["openai"],
    )
    def get(self, request):
        return Response(
            {
                "object": "list",
                "data": [
                    {
                        "id": entry.id,
                        "object": "model",
                        "created": 0,
                        "owned_by": entry.provider.name if entry.provider else "demo",
                    }
                    for entry in services.usable_models(user=request.user)
                ],
            }
        )


def read_body_within_route_limit(request) -> None:
    """Read the body ahead of DRF, which reads a JSON body through ``request.body`` and so
    caps it at ``DATA_UPLOAD_MAX_MEMORY_SIZE``: this route takes inline images, and its own
    limit (``BODY_LIMITS_BY_PATH``) was enforced while the body was received."""
    if not request._read_started:
        request._body = request.read()


class ChatCompletionsView(OpenAIView):
    def sync_initial(self, request, *args, **kwargs) -> None:
        # Authenticated, checked and (when the door can) stored in one database trip.
        super().sync_initial(request, *args, **kwargs)
        if request.method != "POST":
            return
        read_body_within_route_limit(request._request)
        model = services.check_model(user=request.user, model=read_model(request.data))
        self.completion = read_request(request.data)
        session_id = request.headers.get(SESSION_HEADER)
        try:
            self.checked = services.check_completion(
                user=request.user, request=self.completion, model=model, session_id=session_id
            )
        except SessionNotFound:
            raise
        except ChatError:
            self.session_id = session_id  # a refusal in the caller's own conversation
            raise
        self.session_id = self.checked.session_id

    @extend_schema(
        operation_id="openai_chat_completions",
        summary="Chat completion (OpenAI format)",
        description="OpenAI's Chat Completions protocol; every call is a stored, moderated, "
        "rate-limited conversation of the token's user. " + STREAM_DESCRIPTION,
        request=ChatCompletionRequestSerializer,
        parameters=[SESSION_ID, SESSION_ID_ANSWER],
        responses={
            (200, "application/json"): OpenApiResponse(
                ChatCompletionSerializer, description=STREAM_DESCRIPTION
            ),
            (200, "text/event-stream"): OpenApiResponse(
                {"type": "string"}, description=STREAM_DESCRIPTION
            ),
            **ERRORS,
        },
        tags=["openai"],
    )
    async def post(self, request):
        try:
            turn = await services.finish_completion(self.checked, request=self.completion)
        except (ChatError, OpenAIError) as exc:
            if not services.conversation_kept(self.checked, exc):
                self.session_id = None
            raise
        return await completion_response(turn, self.completion)
