"""Files people upload to talk about: data and invariants only; workflows live in services."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class StoredFile(models.Model):
    """One uploaded file, typed by its content, owned by one user; its bytes live in the
    ``attachments`` storage under ``key``."""

    class Kind(models.TextChoices):
        IMAGE = "image"
        DOCUMENT = "document"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="stored_files"
    )
    name = models.CharField(max_length=255, help_text="The name it was uploaded with.")
    size = models.PositiveBigIntegerField(help_text="Bytes as stored.")
    content_type = models.CharField(max_length=100, help_text="Decided by the content.")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    text = models.TextField(blank=True, help_text="A document's text, as the model reads it.")
    sha256 = models.CharField(max_length=64)
    key = models.CharField(max_length=255, unique=True, help_text="Its name in the storage.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "-created_at", "-id"], name="file_owner_recent"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["image", "document"]), name="file_kind_known"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class MessageAttachment(models.Model):
    """A file attached to a user's message; a file may be attached to several messages, and
    cannot be deleted while it is (RESTRICT: unless its message goes in the same delete)."""

    message = models.ForeignKey(
        "conversations.Message", on_delete=models.CASCADE, related_name="attachment_links"
    )
    file = models.ForeignKey(StoredFile, on_delete=models.RESTRICT, related_name="links")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["message", "position"]
        constraints = [
            models.UniqueConstraint(fields=["message", "position"], name="attachment_position"),
        ]

    def __str__(self) -> str:
        return f"{self.file} on {self.message_id}"
