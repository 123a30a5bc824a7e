"""Error pages that Django itself answers (no view, or a view that crashed): JSON under
``/api/`` and ``/v1/``, where clients parse every answer (in OpenAI's error shape under
``/v1/``, so OpenAI clients raise their own classes), and Django's own pages elsewhere."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

API_PREFIXES = ("/api/", "/v1/")


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES) or path in {p.rstrip("/") for p in API_PREFIXES}


OPENAI_PREFIX = "/v1/"
# OpenAI's error types for the statuses Django itself answers.
OPENAI_TYPES = {403: "permission_error", 500: "server_error"}


def json_error(detail: str, *, code: str, status: int, path: str = "") -> JsonResponse:
    if path.startswith(OPENAI_PREFIX) or path == OPENAI_PREFIX.rstrip("/"):
        kind = OPENAI_TYPES.get(status, "invalid_request_error")
        error = {"message": detail, "type": kind, "param": None, "code": code}
        return JsonResponse({"error": error}, status=status)
    return JsonResponse({"detail": detail, "code": code}, status=status)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_path(request.path):
        return json_error(
            "The request is malformed.", code="bad_request", status=400, path=request.path
        )
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_path(request.path):
        return json_error(
            "You do not have permission to do this.",
            code="permission_denied",
            status=403,
            path=request.path,
        )
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_path(request.path):
        return json_error(
            "There is no such API endpoint.", code="not_found", status=404, path=request.path
        )
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if is_api_path(request.path):
        return json_error(
            "Something went wrong on our side; please try again.",
            code="server_error",
            status=500,
            path=request.path,
        )
    return defaults.server_error(request)
