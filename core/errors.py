"""Errors every app raises: the base of the domain errors, bad input, and outages.

Each error carries a human ``detail`` safe to show to the user and the HTTP status a REST
client should see; each transport translates them in one place.
"""

from __future__ import annotations

from django.db import InterfaceError, OperationalError
from redis.exceptions import RedisError


class ChatError(Exception):
    status_code = 400
    code = "invalid"
    default_detail = "The request could not be completed."

    def __init__(self, detail: str | None = None, *, field: str | None = None) -> None:
        self.detail = detail or self.default_detail
        self.field = field
        super().__init__(self.detail)


class InvalidInput(ChatError):
    status_code = 400
    code = "invalid"


class StorageUnavailable(ChatError):
    """The database or the cache could not be reached; nothing half-done is reported done."""

    status_code = 503
    code = "service_unavailable"
    default_detail = "The service is temporarily unavailable. Please try again in a moment."


# Failures of the database or of Redis (cache, channel layer) that mean "try again later".
OUTAGES = (OperationalError, InterfaceError, RedisError)
