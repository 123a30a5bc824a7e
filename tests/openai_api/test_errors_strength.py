"""``openai_api.errors`` asked directly: each domain error and each failure of a request
turned into OpenAI's error body with its status, type, param and code, and the headers of
the answer (Retry-After when known, WWW-Authenticate on a 401)."""

from __future__ import annotations

import logging

import pytest
from django.core.exceptions import RequestDataTooBig
from django.db import OperationalError
from rest_framework import exceptions

from attachments.errors import FileNotFound
from conversations.errors import (
    ChatSuspended,
    LLMRateLimited,
    LLMUnavailable,
    MessageBlocked,
    MessageNotFound,
    ModerationUnavailable,
    QuotaExceeded,
    RateLimited,
    ReplyInProgress,
    SessionNotFound,
)
from core.errors import InvalidInput, StorageUnavailable
from openai_api.errors import (
    OpenAIError,
    error_body,
    error_response,
    exception_handler,
    from_chat_error,
    from_exception,
    invalid,
)


def fields(error: OpenAIError) -> tuple:
    return (error.message, error.status, error.type, error.param, error.code)


def test_an_error_defaults_to_an_invalid_request_and_its_body_is_openais():
    error = OpenAIError("Nope.")

    assert fields(error) == ("Nope.", 400, "invalid_request_error", None, None)
    assert str(error) == "Nope."
    assert error_body(OpenAIError("Slow.", status=429, type="t", param="p", code="c")) == {
        "error": {"message": "Slow.", "type": "t", "param": "p", "code": "c"}
    }
    assert fields(invalid("Bad.", param="x", code="y")) == (
        "Bad.",
        400,
        "invalid_request_error",
        "x",
        "y",
    )
    assert fields(invalid("Bad.")) == ("Bad.", 400, "invalid_request_error", None, None)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            RateLimited(7),
            (
                "You are sending messages too quickly. Try again in 7 seconds.",
                429,
                "requests",
                None,
                "rate_limit_exceeded",
            ),
        ),
        (
            QuotaExceeded(60),
            (
                "You have used today's token allowance. It resets at midnight UTC.",
                429,
                "tokens",
                None,
                "rate_limit_exceeded",
            ),
        ),
        (
            SessionNotFound(),
            (
                "Conversation not found.",
                404,
                "invalid_request_error",
                "X-Chat-Session-Id",
                "session_not_found",
            ),
        ),
        (
            MessageNotFound(),
            ("Message not found.", 404, "invalid_request_error", None, "not_found"),
        ),
        (
            ChatSuspended(),
            (
                "Your chat access is suspended. You can still read your conversations.",
                403,
                "permission_error",
                None,
                "suspended",
            ),
        ),
        (
            MessageBlocked(),
            (
                MessageBlocked.default_detail,
                400,
                "invalid_request_error",
                "messages",
                "content_policy_violation",
            ),
        ),
        (
            ReplyInProgress(),
            (
                ReplyInProgress.default_detail,
                409,
                "invalid_request_error",
                None,
                "reply_in_progress",
            ),
        ),
        (
            LLMUnavailable(),
            (LLMUnavailable.default_detail, 503, "server_error", None, "model_unavailable"),
        ),
        (
            LLMRateLimited(),
            (LLMRateLimited.default_detail, 503, "server_error", None, "model_busy"),
        ),
        (
            ModerationUnavailable(),
            (
                ModerationUnavailable.default_detail,
                503,
                "server_error",
                None,
                "moderation_unavailable",
            ),
        ),
        (
            StorageUnavailable(),
            (StorageUnavailable.default_detail, 503, "server_error", None, "service_unavailable"),
        ),
        (
            InvalidInput("Too long.", field="message"),
            ("Too long.", 400, "invalid_request_error", "messages", "invalid"),
        ),
        (
            InvalidInput("Bad file.", field="attachments"),
            ("Bad file.", 400, "invalid_request_error", "attachments", "invalid"),
        ),
        (
            FileNotFound(),
            ("File not found.", 404, "invalid_request_error", None, "not_found"),
        ),
    ],
)
def test_each_domain_error_in_openais_terms(exc, expected):
    assert fields(from_chat_error(exc)) == expected
    assert fields(from_exception(exc)) == expected


def test_an_openai_error_is_itself_and_a_bug_is_left_to_django():
    error = OpenAIError("Mine.", status=418)

    assert from_exception(error) is error
    assert from_exception(KeyError("bug")) is None
    assert exception_handler(KeyError("bug"), {}) is None


def test_an_outage_is_a_503_and_logged_by_its_kind(caplog):
    with caplog.at_level(logging.WARNING, logger="openai_api.errors"):
        error = from_exception(OperationalError("connection refused"))

    assert fields(error) == (
        StorageUnavailable.default_detail,
        503,
        "server_error",
        None,
        "service_unavailable",
    )
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "service outage: OperationalError")
    ]


@pytest.mark.parametrize(
    "exc", [exceptions.NotAuthenticated(), exceptions.AuthenticationFailed("Invalid token.")]
)
def test_no_or_a_bad_key_is_a_401_saying_how_to_send_one(exc):
    response = exception_handler(exc, {})

    assert response.status_code == 401
    assert response.data == {
        "error": {
            "message": "Invalid or missing API key: send your personal API token as "
            "'Authorization: Bearer <token>'.",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }
    assert response["WWW-Authenticate"] == "Bearer"
    assert not response.has_header("Retry-After")


def test_a_body_too_large_is_a_413():
    assert fields(from_exception(RequestDataTooBig())) == (
        "The request body is too large.",
        413,
        "invalid_request_error",
        None,
        "too_large",
    )


def test_other_drf_errors_keep_their_status_and_code():
    assert fields(from_exception(exceptions.MethodNotAllowed("GET"))) == (
        'Method "GET" not allowed.',
        405,
        "invalid_request_error",
        None,
        "method_not_allowed",
    )
    assert fields(from_exception(exceptions.ParseError())) == (
        "Malformed request.",
        400,
        "invalid_request_error",
        None,
        "parse_error",
    )
    assert fields(from_exception(exceptions.ValidationError({"a": ["b"]}))) == (
        "The request is malformed.",
        400,
        "invalid_request_error",
        None,
        "invalid",
    )


def test_a_wait_known_is_sent_as_retry_after():
    response = exception_handler(RateLimited(12), {})

    assert response.status_code == 429
    assert response["Retry-After"] == "12"
    assert not response.has_header("WWW-Authenticate")
    assert response.data["error"]["code"] == "rate_limit_exceeded"


def test_no_retry_after_without_a_wait():
    response = exception_handler(SessionNotFound(), {})

    assert response.status_code == 404
    assert not response.has_header("Retry-After")


def test_an_error_response_carries_its_status_body_and_headers():
    response = error_response(OpenAIError("Gone.", status=410, code="gone"), {"X-A": "1"})

    assert (response.status_code, response["X-A"]) == (410, "1")
    assert response.data == {
        "error": {
            "message": "Gone.",
            "type": "invalid_request_error",
            "param": None,
            "code": "gone",
        }
    }
    assert error_response(OpenAIError("Plain.")).status_code == 400
