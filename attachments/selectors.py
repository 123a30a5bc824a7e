"""Reads of stored files, always scoped to their owner (another user's id is a 404)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet, Sum

from attachments.errors import FileNotFound
from attachments.models import MessageAttachment, StoredFile


def files_of(*, user) -> QuerySet[StoredFile]:
    return StoredFile.objects.filter(owner=user)


def file_of(*, user, file_id) -> StoredFile:
    try:
        return files_of(user=user).get(pk=file_id)
    except StoredFile.DoesNotExist:
        raise FileNotFound() from None


def exported_files(*, user) -> QuerySet[StoredFile]:
    """The user's files that their own export holds: those attached to a message still
    shown to them, and those attached to nothing (a hidden message hides its files)."""
    links = MessageAttachment.objects.filter(file=OuterRef("pk"))
    return (
        files_of(user=user)
        .filter(~Exists(links) | Exists(links.filter(message__hidden=False)))
        .order_by("created_at", "pk")
    )


def storage_used(*, user) -> int:
    """Bytes the user's files take in storage."""
    return files_of(user=user).aggregate(total=Sum("size"))["total"] or 0


def files_by_message(message_ids: Iterable[Any]) -> dict[Any, list[StoredFile]]:
    """The files of each message, in the order they were attached: one query."""
    found: dict[Any, list[StoredFile]] = {}
    links = MessageAttachment.objects.filter(message_id__in=list(message_ids))
    for link in links.select_related("file").order_by("message_id", "position"):
        found.setdefault(link.message_id, []).append(link.file)
    return found


def marking_files(messages: QuerySet) -> QuerySet:
    """``messages`` with ``has_files`` (whether any file is attached), in the same query:
    the files are then read only for the messages that have some."""
    return messages.annotate(
        has_files=Exists(MessageAttachment.objects.filter(message=OuterRef("pk")))
    )


def with_attached_files(messages: list) -> list:
    """``messages`` with ``attached_files`` set on each (only users' messages have files):
    one query for a page, none when no message has files (``marking_files``) or none is
    a user's."""
    asking = [
        m.pk
        for m in messages
        if m.role == "user" and getattr(m, "has_files", True) and not hasattr(m, "attached_files")
    ]
    found = files_by_message(asking) if asking else {}
    for message in messages:
        if not hasattr(message, "attached_files"):
            message.attached_files = found.get(message.pk, [])
    return messages
