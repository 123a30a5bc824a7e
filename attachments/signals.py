"""Files follow the rows that hold them, however those rows are deleted (a conversation
through the API or the ORM, an account, cleanup_files): a stored file's bytes go when its
row's deletion commits, and a file goes with the last message it was attached to."""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from attachments import services
from attachments.models import MessageAttachment, StoredFile
from attachments.storage import file_storage


@receiver(post_delete, sender=StoredFile, dispatch_uid="attachments-delete-bytes")
def delete_bytes(sender, instance: StoredFile, using: str, **kwargs) -> None:
    """Delete the bytes once the row's deletion commits (never for a rolled-back one)."""
    key = instance.key
    # Robust: the rows are gone already, a storage outage must not fail the request;
    # the error is logged by Django.
    transaction.on_commit(lambda: file_storage().delete(key), using=using, robust=True)


@receiver(post_delete, sender=MessageAttachment, dispatch_uid="attachments-follow-message")
def delete_file_left_unattached(sender, instance: MessageAttachment, using: str, **kwargs) -> None:
    """Once the message's deletion commits, delete its file if no other message has it."""
    files = StoredFile.objects.using(using).filter(pk=instance.file_id)
    transaction.on_commit(lambda: services.delete_unattached_files(files=files), using=using)
