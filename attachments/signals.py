"""A stored file's bytes go when the deletion of its row commits, however the row is
deleted (its owner, an account's deletion, cleanup_files)."""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from attachments.models import StoredFile
from attachments.storage import file_storage


@receiver(post_delete, sender=StoredFile, dispatch_uid="attachments-delete-bytes")
def delete_bytes(sender, instance: StoredFile, using: str, **kwargs) -> None:
    key = instance.key
    # Robust: the rows are gone already, a storage outage must not fail the request;
    # the error is logged by Django.
    transaction.on_commit(lambda: file_storage().delete(key), using=using, robust=True)
