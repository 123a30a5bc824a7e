"""Errors in OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``, with its
status codes: the one place where this transport turns every failure into an answer, so
that each OpenAI client raises its own exception class for it."""

from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig
from rest_framework import exceptions
from rest_framework.response import Response

from conversations.errors import (
    ChatSuspended,
    LLMError,
    MessageBlocked,
    MessageNotFound,
    QuotaExceeded,
    RateLimited,
    ReplyInProgress,
    SessionNotFound,
)
from core.errors import OUTAGES, ChatError, StorageUnavailable

logger = logging.getLogger(__name__)

SESSION_HEADER = "X-Chat-Session-Id"


class OpenAIError(Exception):
    """A refusal of this endpoint's own (a parameter, a model), already in OpenAI's terms."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message, self.status, self.type, self.param, self.code = (
            message,
            status,
            type,
            param,
            code,
        )


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> OpenAIError:
    return OpenAIError(message, param=param, code=code)


def error_body(error: OpenAIError) -> dict:
    return {
        "error": {
            "message": error.message,
            "type": error.type,
            "param": error.param,
            "code": error.code,
        }
    }


def from_chat_error(exc: ChatError) -> OpenAIError:
    """A domain error of the send path (rate limits, quota, moderation, suspension, the
    model) as OpenAI reports its like."""
    param = exc.field
    if isinstance(exc, RateLimited):
        return OpenAIError(exc.detail, status=429, type="requests", code="rate_limit_exceeded")
    if isinstance(exc, QuotaExceeded):
        return OpenAIError(exc.detail, status=429, type="tokens", code="rate_limit_exceeded")
    if isinstance(exc, SessionNotFound):
        return OpenAIError(exc.detail, status=404, param=SESSION_HEADER, code="session_not_found")
    if isinstance(exc, MessageNotFound):
        return OpenAIError(exc.detail, status=404, code="not_found")
    if isinstance(exc, ChatSuspended):
        return OpenAIError(exc.detail, status=403, type="permission_error", code="suspended")
    if isinstance(exc, MessageBlocked):
        return OpenAIError(exc.detail, param="messages", code="content_policy_violation")
    if isinstance(exc, ReplyInProgress):
        return OpenAIError(exc.detail, status=409, code="reply_in_progress")
    if isinstance(exc, LLMError | StorageUnavailable):
        return OpenAIError(exc.detail, status=503, type="server_error", code=exc.code)
    if param == "message":
        param = "messages"  # the message answered is the request's last one
    return OpenAIError(exc.detail, status=exc.status_code, param=param, code=exc.code)


def from_exception(exc: Exception) -> OpenAIError | None:
    """Any failure a request can meet, in OpenAI's terms (None: a bug, left to Django)."""
    if isinstance(exc, OpenAIError):
        return exc
    if isinstance(exc, ChatError):
        return from_chat_error(exc)
    if isinstance(exc, OUTAGES):
        logger.warning("service outage: %s", type(exc).__name__)
        return from_chat_error(StorageUnavailable())
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        return OpenAIError(
            "Invalid or missing API key: send your personal API token as "
            "'Authorization: Bearer <token>'.",
            status=401,
            code="invalid_api_key",
        )
    if isinstance(exc, RequestDataTooBig):
        return OpenAIError("The request body is too large.", status=413, code="too_large")
    if isinstance(exc, exceptions.APIException):
        message = exc.detail if isinstance(exc.detail, str) else "The request is malformed."
        return OpenAIError(str(message), status=exc.status_code, code=exc.default_code)
    return None


def error_response(error: OpenAIError, headers: dict | None = None) -> Response:
    return Response(error_body(error), status=error.status, headers=headers)


def exception_handler(exc, context) -> Response | None:
    """DRF's exception handler for the /v1 views."""
    error = from_exception(exc)
    if error is None:
        return None
    headers = {}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:
        headers["Retry-After"] = str(retry_after)
    if error.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return error_response(error, headers)
