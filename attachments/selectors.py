"""Reads of stored files, always scoped to their owner (another user's id is a 404)."""

from __future__ import annotations

from django.db.models import QuerySet, Sum

from attachments.errors import FileNotFound
from attachments.models import StoredFile


def files_of(*, user) -> QuerySet[StoredFile]:
    return StoredFile.objects.filter(owner=user)


def file_of(*, user, file_id) -> StoredFile:
    try:
        return files_of(user=user).get(pk=file_id)
    except StoredFile.DoesNotExist:
        raise FileNotFound() from None


def storage_used(*, user) -> int:
    """Bytes the user's files take in storage."""
    return files_of(user=user).aggregate(total=Sum("size"))["total"] or 0
