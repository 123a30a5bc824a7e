"""``attachments.services`` called directly: the name kept (each edge of the 255-character
cut), what is stored for an upload (row and bytes, exactly), the quota at its edge, a failed
upload leaving no bytes, deletes by owner only, and the sweeps' edges and batches."""

from __future__ import annotations

import hashlib
import io
import os
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from attachments import attaching, services
from attachments.errors import FileInUse, FileNotFound, StorageQuotaExceeded
from attachments.models import MessageAttachment, StoredFile
from attachments.storage import file_storage
from conversations.models import Message
from tests.attachments import samples
from tests.factories import conversation

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)


def upload(user, data: bytes, name: str = "a.txt") -> StoredFile:
    return services.upload_file(user=user, upload=SimpleUploadedFile(name, data))


def stored_bytes(file) -> bytes:
    with file_storage().open(file.key, "rb") as handle:
        return handle.read()


def files_on_disk(folder) -> list:
    return sorted(path for path in folder.rglob("*") if path.is_file())


def attach(user, file) -> None:
    session = conversation(user, turns=1)
    message = Message.objects.get(session=session, role=Message.Role.USER)
    attaching.attach(message=message, attached=attaching.Attached((file,)))


# --- Names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        (None, "file"),
        ("", "file"),
        ("  ", "file"),
        ("\x00\x1f\x7f\x9f", "file"),
        ("notes.txt", "notes.txt"),
        ("  notes.txt ", "notes.txt"),
        ("a/b/c.txt", "c.txt"),
        ("C:\\Users\\me\\report.pdf", "report.pdf"),
        ("dir\\sub/x.md", "x.md"),
        ("tab\there\x85.txt", "tabhere.txt"),
        ("ok\u00a0name.txt", "ok\u00a0name.txt"),
        ("a" * 255, "a" * 255),
        ("a" * 256, "a" * 255),
        ("a" * 251 + ".txt", "a" * 251 + ".txt"),
        ("a" * 252 + ".txt", "a" * 251 + ".txt"),
        ("a" * 300 + "." + "e" * 16, "a" * 238 + "." + "e" * 16),
        ("a" * 300 + "." + "e" * 17, "a" * 238 + "." + "e" * 16),
        ("." + "a" * 300, "." + "a" * 254),
        ("a" * 300 + ".", "a" * 255),
        ("a" * 200 + "." + "e" * 54, "a" * 200 + "." + "e" * 54),
        ("v1.2." + "a" * 300 + ".txt", ("v1.2." + "a" * 300)[:251] + ".txt"),
    ],
)
def test_the_name_kept(sent, kept):
    assert services.clean_name(sent) == kept


# --- Uploads ------------------------------------------------------------------------------


def test_a_document_is_stored_as_sent_with_its_row(user, file_storage_dir):
    data = b"line\n" * 20_000  # more than one chunk of the checksum

    file = upload(user, data, "dir/notes.txt")

    assert file.owner == user
    assert (file.name, file.size, file.content_type, file.kind) == (
        "notes.txt",
        len(data),
        "text/plain",
        "document",
    )
    assert file.text == data.decode()
    assert file.sha256 == hashlib.sha256(data).hexdigest()
    assert re.fullmatch(rf"{user.pk}/[0-9a-f]{{32}}", file.key)
    assert stored_bytes(file) == data
    assert files_on_disk(file_storage_dir) == [file_storage_dir / file.key]
    assert StoredFile.objects.get() == file


def test_an_image_is_stored_as_re_encoded_not_as_sent(user):
    original = samples.jpeg_with_location()

    file = upload(user, original, "holiday.jpg")

    kept = stored_bytes(file)
    assert kept != original and b"PhoneMaker" not in kept
    assert (file.size, file.sha256) == (len(kept), hashlib.sha256(kept).hexdigest())
    assert (file.kind, file.content_type, file.text) == ("image", "image/jpeg", "")


def test_the_quota_passes_an_exact_fit_and_refuses_one_byte_more(user, other_user, settings):
    settings.CHATBOT_USER_STORAGE_BYTES = 20
    upload(other_user, b"x" * 20)  # another user's files count for them only
    upload(user, b"twelve bytes")

    with pytest.raises(StorageQuotaExceeded) as refusal:
        upload(user, b"nine more")
    fits = upload(user, b"8 more!!")

    assert refusal.value.field == "file"
    assert refusal.value.detail == (
        "Your files use 12 of your 20 bytes of storage; this file needs 9 bytes more. "
        "Delete files you no longer need."
    )
    assert fits.size == 8
    assert StoredFile.objects.filter(owner=user).count() == 2


def test_an_upload_that_fails_after_its_bytes_were_written_leaves_none(
    user, file_storage_dir, monkeypatch
):
    def fail(**fields):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(StoredFile.objects, "create", fail)

    with pytest.raises(RuntimeError):
        upload(user, b"never kept")

    assert files_on_disk(file_storage_dir) == []


# --- Deletes ------------------------------------------------------------------------------


def test_the_owner_deletes_a_file_and_nobody_else_can(user, other_user):
    mine, theirs = upload(user, b"mine"), upload(other_user, b"theirs")

    with pytest.raises(FileNotFound):
        services.delete_file(user=user, file_id=theirs.pk)
    services.delete_file(user=user, file_id=mine.pk)

    assert list(StoredFile.objects.all()) == [theirs]


def test_an_attached_file_is_not_deleted(user):
    note = upload(user, b"kept")
    attach(user, note)

    with pytest.raises(FileInUse) as refusal:
        services.delete_file(user=user, file_id=note.pk)

    assert refusal.value.detail == "This file is attached to a message and cannot be deleted."
    assert StoredFile.objects.filter(pk=note.pk).exists()


def test_deleting_unattached_files_keeps_the_attached_and_counts_the_deleted(user):
    loose, also_loose, held = upload(user, b"a"), upload(user, b"b"), upload(user, b"c")
    attach(user, held)

    deleted = services.delete_unattached_files(files=StoredFile.objects.all())
    none = services.delete_unattached_files(files=StoredFile.objects.all())

    assert (deleted, none) == (2, 0)
    assert list(StoredFile.objects.all()) == [held]
    assert loose.pk != also_loose.pk


def aged(file: StoredFile, *, ago: timedelta) -> StoredFile:
    StoredFile.objects.filter(pk=file.pk).update(created_at=NOW - ago)
    return file


def test_the_abandoned_files_are_those_unattached_for_more_than_a_day(user, other_user):
    day = timedelta(hours=24)
    old = aged(upload(user, b"old"), ago=day + timedelta(seconds=1))
    theirs = aged(upload(other_user, b"theirs"), ago=day * 3)
    exactly_a_day = aged(upload(user, b"a day"), ago=day)
    attached = aged(upload(user, b"attached"), ago=day * 5)
    attach(user, attached)

    assert services.delete_abandoned_files(now=NOW) == 2

    assert set(StoredFile.objects.all()) == {exactly_a_day, attached}
    assert old.pk and theirs.pk


def test_the_abandoned_files_go_in_batches_until_none_is_left(user, monkeypatch):
    monkeypatch.setattr(services, "CLEANUP_BATCH", 2)
    for number in range(5):
        upload(user, f"file {number}".encode())
    StoredFile.objects.update(created_at=NOW - timedelta(days=2))

    assert services.delete_abandoned_files(now=NOW) == 5
    assert not StoredFile.objects.exists()


def test_without_a_time_the_sweep_uses_the_clock(user):
    upload(user, b"old")
    StoredFile.objects.update(created_at=datetime.now(UTC) - timedelta(hours=25))

    assert services.delete_abandoned_files() == 1


def test_a_batch_attached_meanwhile_ends_the_sweep(user, monkeypatch):
    upload(user, b"attached meanwhile")
    StoredFile.objects.update(created_at=NOW - timedelta(days=2))
    monkeypatch.setattr(services, "delete_unattached_files", lambda files: 0)

    assert services.delete_abandoned_files(now=NOW) == 0


def orphan(folder: str, name: str, *, modified: datetime) -> str:
    storage = file_storage()
    key = storage.save(f"{folder}/{name}", io.BytesIO(b"left over"))
    stamp = modified.timestamp()
    os.utime(storage.path(key), (stamp, stamp))
    return key


def test_the_orphaned_bytes_are_those_no_file_names_written_more_than_a_day_ago(user, monkeypatch):
    monkeypatch.setattr(services, "CLEANUP_BATCH", 2)
    day_ago = NOW - timedelta(hours=24)
    named = upload(user, b"named")
    os.utime(file_storage().path(named.key), (0, 0))
    old = [
        orphan(str(user.pk), f"old-{n}", modified=day_ago - timedelta(seconds=1)) for n in range(3)
    ]
    old.append(orphan("elsewhere", "old", modified=day_ago - timedelta(days=3)))
    kept = [
        orphan(str(user.pk), "exactly-a-day", modified=day_ago),
        orphan("elsewhere", "recent", modified=NOW),
    ]

    assert services.delete_orphaned_bytes(now=NOW) == 4

    storage = file_storage()
    assert not any(storage.exists(key) for key in old)
    assert all(storage.exists(key) for key in [*kept, named.key])


def test_without_a_time_the_orphan_sweep_uses_the_clock(user):
    key = orphan("someone", "old", modified=datetime.now(UTC) - timedelta(hours=25))
    recent = orphan("someone", "new", modified=datetime.now(UTC) - timedelta(hours=23))

    assert services.delete_orphaned_bytes() == 1
    assert not file_storage().exists(key) and file_storage().exists(recent)
    assert MessageAttachment.objects.count() == 0


def test_a_folder_of_one_old_orphan_loses_it(user):
    named = upload(user, b"named")
    os.utime(file_storage().path(named.key), (0, 0))
    lonely = orphan("lonely", "only", modified=NOW - timedelta(days=2))

    assert services.delete_orphaned_bytes(now=NOW) == 1

    assert not file_storage().exists(lonely) and file_storage().exists(named.key)


def test_old_attached_files_are_never_a_batch_of_the_sweep(user, monkeypatch):
    monkeypatch.setattr(services, "CLEANUP_BATCH", 1)
    files = sorted((upload(user, f"file {n}".encode()) for n in range(3)), key=lambda f: f.pk)
    StoredFile.objects.update(created_at=NOW - timedelta(days=2))
    attach(user, files[0])  # first in the sweep's order: a batch of it would end the sweep

    assert services.delete_abandoned_files(now=NOW) == 2

    assert list(StoredFile.objects.all()) == [files[0]]


def test_the_checksum_reads_the_body_in_64_kib_chunks_from_its_start():
    class Recording(io.BytesIO):
        def __init__(self, data: bytes) -> None:
            super().__init__(data)
            self.sizes: list[int | None] = []

        def read(self, size=-1):
            self.sizes.append(size)
            return super().read(size)

    data = bytes(range(256)) * 600  # 153,600 bytes: two whole chunks and a part
    body = Recording(data)
    body.seek(100)

    digest = services._sha256(body)

    assert digest == hashlib.sha256(data).hexdigest()
    assert body.sizes == [64 * 1024] * 4
    assert body.tell() == 0
