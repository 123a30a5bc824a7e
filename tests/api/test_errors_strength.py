"""How the REST API turns errors into answers, exactly (issue 23): each kind of error's
status, body and headers, the field a validation error names (nested, indexed, none), the
outage log line, and the errors the handler leaves to Django."""

from __future__ import annotations

import logging

import pytest
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from rest_framework.exceptions import (
    APIException,
    NotAuthenticated,
    ParseError,
    ValidationError,
)

from conversations.api.errors import (
    PayloadTooLarge,
    chat_error_response,
    exception_handler,
    validation_payload,
)
from conversations.errors import QuotaExceeded, RateLimited, SessionNotFound
from core.errors import ChatError, InvalidInput

OUTAGE = {
    "detail": "The service is temporarily unavailable. Please try again in a moment.",
    "code": "service_unavailable",
}


def handled(exc):
    return exception_handler(exc, {})


def test_a_too_large_body_names_the_limit_in_bytes(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1234

    error = PayloadTooLarge()

    assert (error.status_code, error.default_code) == (413, "too_large")
    assert error.detail == "The request body is larger than the limit of 1234 bytes."


def test_a_too_large_body_names_the_paths_own_limit_when_given(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1234

    error = PayloadTooLarge(4096)

    assert error.detail == "The request body is larger than the limit of 4096 bytes."


def test_djangos_too_large_error_is_a_413_naming_the_limit(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 99

    response = handled(RequestDataTooBig("Request body exceeded the limit."))

    assert response.status_code == 413
    assert response.data == {
        "detail": "The request body is larger than the limit of 99 bytes.",
        "code": "too_large",
    }
    assert "Retry-After" not in response


def test_a_domain_error_keeps_its_status_detail_code_and_field():
    response = handled(InvalidInput("Pick a model.", field="model"))

    assert response.status_code == 400
    assert response.data == {"detail": "Pick a model.", "code": "invalid", "field": "model"}
    assert "Retry-After" not in response


def test_a_not_found_domain_error_is_404_without_a_field():
    response = handled(SessionNotFound())

    assert response.status_code == 404
    assert response.data == {"detail": "Conversation not found.", "code": "not_found"}


@pytest.mark.parametrize(("error", "seconds"), [(RateLimited(42), "42"), (QuotaExceeded(1), "1")])
def test_a_refusal_with_a_wait_sends_retry_after_in_seconds(error, seconds):
    response = handled(error)

    assert response.status_code == 429
    # Exactly as sent on the wire: the name as RFC 9110 spells it, the value in seconds.
    assert [(name, value) for name, value in response.items() if name != "Content-Type"] == [
        ("Retry-After", seconds)
    ]
    assert response.data == {"detail": error.detail, "code": error.code}


def test_a_wait_of_zero_sends_no_retry_after():
    error = ChatError("Not now.")
    error.retry_after = 0

    response = chat_error_response(error)

    assert "Retry-After" not in response
    assert response.data == {"detail": "Not now.", "code": "invalid"}


def test_the_ids_given_join_the_error_body():
    response = chat_error_response(RateLimited(5), messageId="m-1", sessionId="s-1")

    assert response.status_code == 429
    assert response["Retry-After"] == "5"
    assert response.data == {
        "detail": "You are sending messages too quickly. Try again in 5 seconds.",
        "code": "rate_limited",
        "messageId": "m-1",
        "sessionId": "s-1",
    }


@pytest.mark.parametrize(
    "outage",
    [OperationalError("db secret"), InterfaceError("db secret"), RedisConnectionError("x")],
)
def test_an_outage_is_a_503_that_hides_the_cause_and_logs_its_kind(outage, caplog):
    with caplog.at_level(logging.WARNING, logger="conversations.api.errors"):
        response = handled(outage)

    assert response.status_code == 503
    assert response.data == OUTAGE
    assert "db secret" not in str(response.data)
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            "conversations.api.errors",
            logging.WARNING,
            f"service outage: {type(outage).__name__}",
        )
    ]


def test_an_error_drf_does_not_know_is_left_to_django():
    assert handled(ValueError("boom")) is None
    assert handled(KeyError("boom")) is None


def test_an_api_error_gets_the_code_it_was_raised_with():
    response = handled(NotAuthenticated())

    assert response.status_code == 401
    assert response.data == {
        "detail": "Authentication credentials were not provided.",
        "code": "not_authenticated",
    }


def test_an_api_error_raised_with_a_code_of_its_own_keeps_it():
    response = handled(ParseError("Too deep.", code="too_deep"))

    assert response.status_code == 400
    assert response.data == {"detail": "Too deep.", "code": "too_deep"}


def test_an_api_error_whose_detail_is_a_dict_gets_its_class_code():
    response = handled(APIException({"reason": "down"}))

    assert response.status_code == 500
    assert response.data == {"reason": "down", "code": "error"}


def test_an_api_error_whose_detail_is_a_list_is_sent_as_the_list():
    response = handled(APIException(["first", "second"]))

    assert response.status_code == 500
    assert response.data == ["first", "second"]


def test_a_too_large_error_raised_by_the_parser_keeps_its_code(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10

    response = handled(PayloadTooLarge())

    assert response.status_code == 413
    assert response.data == {
        "detail": "The request body is larger than the limit of 10 bytes.",
        "code": "too_large",
    }


# --- Validation errors -----------------------------------------------------------------


def test_a_field_error_names_the_field_first_in_the_sentence():
    response = handled(ValidationError({"title": ["Too long."], "model": ["Unknown."]}))

    assert response.status_code == 400
    assert response.data == {
        "detail": "title: Too long.",
        "code": "invalid",
        "field": "title",
        "errors": {"title": ["Too long."], "model": ["Unknown."]},
    }


def test_the_first_problem_of_a_field_is_the_sentence():
    payload = validation_payload(ValidationError({"title": ["First.", "Second."]}))

    assert payload == {
        "detail": "title: First.",
        "code": "invalid",
        "field": "title",
        "errors": {"title": ["First.", "Second."]},
    }


def test_an_error_of_no_field_has_no_field_key():
    payload = validation_payload(ValidationError(["Give one of them.", "Or the other."]))

    assert payload == {
        "detail": "Give one of them.",
        "code": "invalid",
        "errors": {"non_field_errors": ["Give one of them.", "Or the other."]},
    }


@pytest.mark.parametrize("key", ["non_field_errors", "__all__"])
def test_a_non_field_key_is_no_field(key):
    payload = validation_payload(ValidationError({key: ["Nothing to change."]}))

    assert payload == {
        "detail": "Nothing to change.",
        "code": "invalid",
        "errors": {key: ["Nothing to change."]},
    }


def test_a_nested_field_is_named_by_its_path_without_list_positions():
    payload = validation_payload(
        ValidationError({"options": {"2": {"name": ["Required."]}, "3": {"x": ["No."]}}})
    )

    assert (payload["detail"], payload["field"]) == ("options.name: Required.", "options.name")
    assert payload["errors"] == {"options": {"2": {"name": ["Required."]}, "3": {"x": ["No."]}}}


def test_a_list_fields_item_is_named_by_the_list():
    payload = validation_payload(ValidationError({"attachments": {"1": ["Not a file id."]}}))

    assert (payload["detail"], payload["field"]) == (
        "attachments: Not a file id.",
        "attachments",
    )


@pytest.mark.django_db(transaction=True)
def test_a_validation_error_through_the_api_is_the_same_payload(api):
    response = api.post("/api/chat", {"message": ""}, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {
        "detail": "message: The message cannot be empty.",
        "code": "invalid",
        "field": "message",
        "errors": {"message": ["The message cannot be empty."]},
    }


@pytest.mark.django_db(transaction=True)
def test_an_over_large_body_through_the_api_is_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64

    response = api.post("/api/chat", {"message": "x" * 100}, content_type="application/json")

    assert response.status_code == 413
    assert response.json() == {
        "detail": "The request body is larger than the limit of 64 bytes.",
        "code": "too_large",
    }
