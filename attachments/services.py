"""Writes of stored files: upload (typed by content, within the size limits and the
owner's storage quota) and delete (by its owner, with its last message, or a day after an
upload that was never attached)."""

from __future__ import annotations

import hashlib
import io
import re
import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files import File
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from attachments import content, selectors
from attachments.errors import FileInUse, StorageQuotaExceeded
from attachments.models import MessageAttachment, StoredFile
from attachments.storage import file_storage

NAME_MAX_CHARS = 255
UNSAFE_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
CHUNK_BYTES = 64 * 1024
UNATTACHED_GRACE = timedelta(hours=24)
CLEANUP_BATCH = 500


def clean_name(name: str | None) -> str:
    """The last part of the sender's file name, without control characters, at most 255
    characters (the extension kept): shown to people, never used as a storage path."""
    name = UNSAFE_NAME_CHARS.sub("", (name or "").replace("\\", "/").rsplit("/", 1)[-1]).strip()
    if len(name) > NAME_MAX_CHARS:
        stem, dot, extension = name.rpartition(".")
        keep = extension[:16] if dot and stem else ""
        name = name[: NAME_MAX_CHARS - len(keep) - 1] + "." + keep if keep else name[:255]
    return name or "file"


def _sha256(body) -> str:
    digest = hashlib.sha256()
    body.seek(0)
    for chunk in iter(lambda: body.read(CHUNK_BYTES), b""):
        digest.update(chunk)
    body.seek(0)
    return digest.hexdigest()


def upload_file(*, user, upload) -> StoredFile:
    """Store ``upload`` for ``user``: refused (415, 413, 400) unless an accepted type within
    its limit and the user's quota. The bytes stream to storage in chunks."""
    examined = content.examine(upload)
    body = io.BytesIO(examined.image) if examined.image is not None else upload
    size = len(examined.image) if examined.image is not None else upload.size
    sha256 = _sha256(body)
    storage = file_storage()
    stored_key = None
    try:
        with transaction.atomic():
            # One upload at a time per user, so two cannot both fit the same free space.
            get_user_model().objects.select_for_update().filter(pk=user.pk).first()
            _check_quota(user=user, size=size)
            stored_key = storage.save(f"{user.pk}/{uuid.uuid4().hex}", File(body))
            return StoredFile.objects.create(
                owner=user,
                name=clean_name(upload.name),
                size=size,
                content_type=examined.content_type,
                kind=examined.kind,
                text=examined.text,
                sha256=sha256,
                key=stored_key,
            )
    except BaseException:
        if stored_key is not None:
            storage.delete(stored_key)
        raise


def _check_quota(*, user, size: int) -> None:
    quota = settings.CHATBOT_USER_STORAGE_BYTES
    used = selectors.storage_used(user=user)
    if used + size > quota:
        raise StorageQuotaExceeded(
            f"Your files use {used} of your {quota} bytes of storage; this file needs "
            f"{size} bytes more. Delete files you no longer need.",
            field="file",
        )


def delete_file(*, user, file_id) -> None:
    """Remove the user's file, its bytes once the row is gone; not while a message has it."""
    with transaction.atomic():
        stored = selectors.file_of(user=user, file_id=file_id)
        if MessageAttachment.objects.filter(file=stored).exists():
            raise FileInUse()
        stored.delete()


def delete_unattached_files(*, files: QuerySet[StoredFile]) -> int:
    """Delete those of ``files`` that no message has (their bytes once the rows are gone,
    see ``attachments.signals``); a file attached meanwhile is kept."""
    with transaction.atomic():
        locked = list(files.select_for_update().order_by("pk").values_list("pk", flat=True))
        # A new statement after the lock: it sees a link that a send committed meanwhile.
        attached = MessageAttachment.objects.filter(file_id__in=locked).values("file_id")
        _, deleted = StoredFile.objects.filter(pk__in=locked).exclude(pk__in=attached).delete()
    return deleted.get(StoredFile._meta.label, 0)


def delete_abandoned_files(*, now=None) -> int:
    """Delete the files that no message has and that were uploaded over a day ago, in
    batches (``manage.py cleanup_files``); returns how many."""
    cutoff = (now or timezone.now()) - UNATTACHED_GRACE
    abandoned = StoredFile.objects.filter(created_at__lt=cutoff).exclude(
        Exists(MessageAttachment.objects.filter(file=OuterRef("pk")))
    )
    deleted = 0
    while batch := list(abandoned.order_by("pk").values_list("pk", flat=True)[:CLEANUP_BATCH]):
        removed = delete_unattached_files(files=StoredFile.objects.filter(pk__in=batch))
        if not removed:
            break
        deleted += removed
    return deleted


def delete_orphaned_bytes(*, now=None) -> int:
    """Delete stored bytes that no file names and that were written over a day ago (a
    process killed mid-upload, a storage outage while deleting); returns how many."""
    cutoff = (now or timezone.now()) - UNATTACHED_GRACE
    storage = file_storage()
    deleted = 0
    folders, _ = storage.listdir("")
    for folder in folders:
        _, names = storage.listdir(folder)
        for start in range(0, len(names), CLEANUP_BATCH):
            keys = [f"{folder}/{name}" for name in names[start : start + CLEANUP_BATCH]]
            named = set(StoredFile.objects.filter(key__in=keys).values_list("key", flat=True))
            for key in keys:
                if key not in named and storage.get_modified_time(key) < cutoff:
                    storage.delete(key)
                    deleted += 1
    return deleted
