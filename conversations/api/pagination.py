"""Cursor pages as plain JSON arrays, with the next page in an RFC 8288 ``Link`` header.

A cursor encodes the position of the last row seen, so every page is one indexed range
query whatever the user's number of rows (no COUNT, no OFFSET scan).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from django.core import signing
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
FORGED_CURSOR = "This cursor is not valid; start again from the first page."


class ArrayCursorPagination(CursorPagination):
    page_size = DEFAULT_LIMIT
    max_page_size = MAX_LIMIT
    page_size_query_param = "limit"
    cursor_query_param = "cursor"

    def paginate_queryset(self, queryset, request, view=None):
        self.position_field = queryset.model._meta.get_field(self.ordering[0].lstrip("-"))
        return super().paginate_queryset(queryset, request, view)

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            limit = int(raw)
        except ValueError:
            limit = 0
        if not 1 <= limit <= self.max_page_size:
            raise ValidationError(
                {"limit": [f"Must be a whole number from 1 to {self.max_page_size}."]}
            )
        return limit

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise ValidationError({"cursor": [FORGED_CURSOR]}) from None
        if cursor is not None and cursor.position is not None:
            # A forged position would otherwise reach the database as a bad literal.
            try:
                self.position_field.clean(cursor.position, None)
            except DjangoValidationError:
                raise ValidationError({"cursor": [FORGED_CURSOR]}) from None
        return cursor

    def get_paginated_response(self, data) -> Response:
        next_link = self.get_next_link()
        headers = {"Link": f'<{next_link}>; rel="next"'} if next_link else {}
        return Response(data, headers=headers)

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return schema

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Opaque cursor from the previous page's Link header.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Items per page (default {self.page_size}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
            },
        ]


class SessionPagination(ArrayCursorPagination):
    """Pinned conversations first, then by activity: keyset pages on (pinned, updated_at,
    id), one range query each. (DRF's cursor keeps a single position field, and a boolean
    first would page by offset.) The cursor is signed: one the server did not issue is 400."""

    ordering = ("-pinned", "-updated_at", "-id")
    salt = "conversations.api.sessions-cursor"
    # Set by paginate_queryset, before any link is made.
    base_url: str

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.base_url = request.build_absolute_uri()
        self.page_size = self.get_page_size(request)
        position = self.decode_position(request)
        if position is not None:
            pinned, updated_at, last_id = position
            older = Q(updated_at__lt=updated_at) | Q(updated_at=updated_at, id__lt=last_id)
            # Past a pinned one come the older pinned ones, then every unpinned one.
            queryset = queryset.filter(
                Q(older, pinned=True) | Q(pinned=False) if pinned else Q(older, pinned=False)
            )
        rows = list(queryset.order_by(*self.ordering)[: self.page_size + 1])
        page = rows[: self.page_size]
        self.last = page[-1] if len(rows) > self.page_size else None
        return page

    def decode_position(self, request) -> tuple[bool, datetime, uuid.UUID] | None:
        raw = request.query_params.get(self.cursor_query_param)
        if raw is None:
            return None
        try:
            pinned, stamp, last_id = signing.loads(raw, salt=self.salt)
            return bool(pinned), datetime.fromisoformat(stamp), uuid.UUID(last_id)
        except (signing.BadSignature, TypeError, ValueError):
            raise ValidationError({"cursor": [FORGED_CURSOR]}) from None

    def get_next_link(self) -> str | None:
        if self.last is None:
            return None
        position = [self.last.pinned, self.last.updated_at.isoformat(), str(self.last.pk)]
        cursor = signing.dumps(position, salt=self.salt)
        return replace_query_param(self.base_url, self.cursor_query_param, cursor)


class MessagePagination(ArrayCursorPagination):
    """Every message of a conversation in creation order (``?all=true``)."""

    ordering = ("sequence",)


class BranchPagination(ArrayCursorPagination):
    """The current branch, oldest first: keyset pages on the depth of a message along it
    (which grows with its sequence there), each one query reaching its window by jump
    pointers (``selectors.branch_page``), at any depth. The cursor is signed: one the server
    did not issue is 400."""

    salt = "conversations.api.branch-cursor"
    # Set by paginate_window, before any link is made.
    base_url: str

    def paginate_window(self, window: Callable[[int, int], QuerySet], request) -> list:
        """The page: ``window(after, count)`` gives the ``count`` messages past depth
        ``after``; one more than a page tells whether another follows."""
        self.request = request
        self.base_url = request.build_absolute_uri()
        self.page_size = self.get_page_size(request)
        rows = list(window(self.decode_depth(request), self.page_size + 1))
        page = rows[: self.page_size]
        self.last = page[-1] if len(rows) > self.page_size else None
        return page

    def decode_depth(self, request) -> int:
        """The depth of the last message of the previous page (-1 before the first)."""
        raw = request.query_params.get(self.cursor_query_param)
        if raw is None:
            return -1
        try:
            return int(signing.loads(raw, salt=self.salt))
        except (signing.BadSignature, TypeError, ValueError):
            raise ValidationError({"cursor": [FORGED_CURSOR]}) from None

    def get_next_link(self) -> str | None:
        if self.last is None:
            return None
        cursor = signing.dumps(self.last.depth, salt=self.salt)
        return replace_query_param(self.base_url, self.cursor_query_param, cursor)
