"""One place where errors become HTTP answers for the REST API.

Every answer is JSON with a human ``detail`` and a machine ``code``; domain errors keep the
status their class declares, validation errors name the field in the sentence and list all
problems under ``errors``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from conversations import payloads
from core.errors import OUTAGES, ChatError, StorageUnavailable

logger = logging.getLogger(__name__)

NON_FIELD_KEYS = {"non_field_errors", "__all__"}


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"

    def __init__(self, limit: int | None = None) -> None:
        # The limit of the request's path (settings.BODY_LIMITS_BY_PATH), else Django's.
        if limit is None:
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        super().__init__(f"The request body is larger than the limit of {limit} bytes.")


def chat_error_response(exc: ChatError, **extra) -> Response:
    headers = {}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:
        headers["Retry-After"] = str(retry_after)
    return Response(payloads.error_payload(exc, **extra), status=exc.status_code, headers=headers)


def _first_error(detail, path: tuple[str, ...] = ()) -> tuple[tuple[str, ...], str]:
    if isinstance(detail, dict):
        for key, value in detail.items():
            return _first_error(value, (*path, str(key)))
    if isinstance(detail, list) and detail:
        return _first_error(detail[0], path)
    return path, str(detail)


def validation_payload(exc: ValidationError) -> dict[str, Any]:
    """``{"detail": "<field>: <problem>", "field", "code", "errors": {...}}``."""
    errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
    path, message = _first_error(errors)
    fields = [part for part in path if part not in NON_FIELD_KEYS and not part.isdigit()]
    field = ".".join(fields)
    payload: dict[str, Any] = {
        "detail": f"{field}: {message}" if field else message,
        "code": "invalid",
    }
    if field:
        payload["field"] = field
    payload["errors"] = errors
    return payload


def exception_handler(exc, context):
    if isinstance(exc, ChatError):
        return chat_error_response(exc)
    if isinstance(exc, OUTAGES):
        logger.warning("service outage: %s", type(exc).__name__)
        return chat_error_response(StorageUnavailable())
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ValidationError):
        response.data = validation_payload(exc)
    elif isinstance(exc, APIException) and isinstance(response.data, dict):
        codes = exc.get_codes()
        response.data["code"] = codes if isinstance(codes, str) else exc.default_code
    return response
