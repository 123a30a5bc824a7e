"""``manage.py cleanup_files`` (``attachments/management/commands/cleanup_files.py``): both
sweeps run, and the line it writes counts each exactly (a second user's files present)."""

from __future__ import annotations

import io
import os
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from attachments.models import StoredFile
from attachments.storage import file_storage
from tests.attachments.samples import stored

pytestmark = pytest.mark.django_db


def aged(file: StoredFile, *, hours: float) -> StoredFile:
    StoredFile.objects.filter(pk=file.pk).update(created_at=timezone.now() - timedelta(hours=hours))
    return file


def orphan(file_storage_dir, folder: str, name: str, *, hours: float) -> str:
    key = file_storage().save(f"{folder}/{name}", io.BytesIO(b"left over"))
    stamp = (timezone.now() - timedelta(hours=hours)).timestamp()
    os.utime(file_storage_dir / key, (stamp, stamp))
    return key


def test_the_command_sweeps_files_and_bytes_and_counts_each(user, other_user, file_storage_dir):
    aged(stored(user, b"mine", "mine.txt"), hours=30)
    aged(stored(other_user, b"theirs", "theirs.txt"), hours=48)
    aged(stored(user, b"also mine", "also.txt"), hours=25)
    recent = aged(stored(user, b"recent", "recent.txt"), hours=2)
    old = [orphan(file_storage_dir, str(user.pk), f"crash-{n}", hours=26) for n in range(3)]
    new = orphan(file_storage_dir, str(other_user.pk), "uploading", hours=1)
    output = io.StringIO()

    call_command("cleanup_files", stdout=output)

    assert output.getvalue() == (
        "Deleted 3 unattached file(s) and 3 stored object(s) no file named.\n"
    )
    assert list(StoredFile.objects.all()) == [recent]
    assert not any(file_storage().exists(key) for key in old)
    assert file_storage().exists(new) and file_storage().exists(recent.key)


def test_with_nothing_to_sweep_it_says_zero_of_each(user, file_storage_dir):
    kept = stored(user, b"kept", "kept.txt")
    output = io.StringIO()

    call_command("cleanup_files", stdout=output)

    assert output.getvalue() == (
        "Deleted 0 unattached file(s) and 0 stored object(s) no file named.\n"
    )
    assert list(StoredFile.objects.all()) == [kept]
