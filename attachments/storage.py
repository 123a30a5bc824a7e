"""The one door to the files' bytes: Django's ``attachments`` storage (a private folder, or
an S3-compatible bucket), looked up on each use so that settings decide it."""

from __future__ import annotations

from django.core.files.storage import Storage, storages


def file_storage() -> Storage:
    return storages["attachments"]
