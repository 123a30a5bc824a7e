"""Files follow their conversations and their owner, and uploads never attached go a day
later (``manage.py cleanup_files``): rows and stored bytes, others' files untouched."""

from __future__ import annotations

import io
import os
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from accounts import services as account_services
from attachments import attaching
from attachments.models import MessageAttachment, StoredFile
from attachments.storage import file_storage
from conversations.models import ChatSession, Message
from tests.attachments.samples import stored
from tests.factories import UserFactory, conversation

pytestmark = pytest.mark.django_db


def attach(session: ChatSession, *files: StoredFile) -> None:
    message = Message.objects.filter(session=session, role=Message.Role.USER).first()
    attaching.attach(message=message, attached=attaching.Attached(files))


def uploaded_ago(user, name: str, *, hours: float) -> StoredFile:
    file = stored(user, f"{name} body".encode(), name)
    StoredFile.objects.filter(pk=file.pk).update(created_at=timezone.now() - timedelta(hours=hours))
    return file


def remaining(*files: StoredFile) -> set[str]:
    """The names of ``files`` still there, once their row and their bytes agree."""
    rows = set(StoredFile.objects.filter(pk__in=[f.pk for f in files]).values_list("pk", flat=True))
    stored_bytes = {f.pk for f in files if file_storage().exists(f.key)}
    assert rows == stored_bytes, "a row without its bytes, or bytes without their row"
    return {f.name for f in files if f.pk in rows}


def test_cleanup_files_removes_files_attached_to_nothing_for_a_day(
    user, other_user, django_capture_on_commit_callbacks
):
    abandoned = uploaded_ago(user, "abandoned.txt", hours=25)
    theirs_abandoned = uploaded_ago(other_user, "theirs-abandoned.txt", hours=49)
    recent = uploaded_ago(user, "recent.txt", hours=23)
    old_attached = uploaded_ago(user, "old-attached.txt", hours=100)
    attach(conversation(user, turns=1), old_attached)
    output = io.StringIO()

    with django_capture_on_commit_callbacks(execute=True):
        call_command("cleanup_files", stdout=output)

    files = (abandoned, theirs_abandoned, recent, old_attached)
    assert remaining(*files) == {"recent.txt", "old-attached.txt"}
    assert (
        output.getvalue() == "Deleted 2 unattached file(s) and 0 stored object(s) no file named.\n"
    )
    assert MessageAttachment.objects.filter(file=old_attached).exists()


def test_cleanup_files_with_nothing_to_do_keeps_everything(
    user, django_capture_on_commit_callbacks
):
    recent = uploaded_ago(user, "recent.txt", hours=1)
    output = io.StringIO()

    with django_capture_on_commit_callbacks(execute=True):
        call_command("cleanup_files", stdout=output)

    assert remaining(recent) == {"recent.txt"}
    assert (
        output.getvalue() == "Deleted 0 unattached file(s) and 0 stored object(s) no file named.\n"
    )


def test_cleanup_files_removes_day_old_bytes_that_no_file_names(user, file_storage_dir):
    kept = stored(user, b"named", "kept.txt")
    storage = file_storage()
    orphan = storage.save(f"{user.pk}/orphan", io.BytesIO(b"left by a crash"))
    recent_orphan = storage.save(f"{user.pk}/recent-orphan", io.BytesIO(b"being uploaded"))
    day_ago = (timezone.now() - timedelta(hours=25)).timestamp()
    for key in (orphan, kept.key):
        os.utime(file_storage_dir / key, (day_ago, day_ago))
    output = io.StringIO()

    call_command("cleanup_files", stdout=output)

    assert not storage.exists(orphan)
    assert storage.exists(recent_orphan) and storage.exists(kept.key)
    assert remaining(kept) == {"kept.txt"}
    assert output.getvalue().endswith("and 1 stored object(s) no file named.\n")


def test_deleting_a_conversation_deletes_the_files_only_it_has(
    api, user, other_user, django_capture_on_commit_callbacks
):
    deleted_session = conversation(user, turns=1)
    kept_session = conversation(user, turns=1)
    theirs_session = conversation(other_user, turns=1)
    only_here = stored(user, b"only here", "only-here.txt")
    shared = stored(user, b"in two", "shared.txt")
    elsewhere = stored(user, b"elsewhere", "elsewhere.txt")
    unattached = stored(user, b"library", "unattached.txt")
    theirs = stored(other_user, b"theirs", "theirs.txt")
    attach(deleted_session, only_here, shared)
    attach(kept_session, shared, elsewhere)
    attach(theirs_session, theirs)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"/api/chat/sessions/{deleted_session.pk}")
        assert remaining(only_here) == {"only-here.txt"}  # until the deletion commits

    assert response.status_code == 200
    files = (only_here, shared, elsewhere, unattached, theirs)
    assert remaining(*files) == {"shared.txt", "elsewhere.txt", "unattached.txt", "theirs.txt"}
    assert MessageAttachment.objects.filter(file=shared).count() == 1


def test_deleting_a_conversation_by_any_path_deletes_its_files(
    user, other_user, django_capture_on_commit_callbacks
):
    session = conversation(user, turns=1)
    theirs_session = conversation(other_user, turns=1)
    mine = stored(user, b"mine", "mine.txt")
    theirs = stored(other_user, b"theirs", "theirs.txt")
    attach(session, mine)
    attach(theirs_session, theirs)

    with django_capture_on_commit_callbacks(execute=True):
        session.delete()

    assert remaining(mine, theirs) == {"theirs.txt"}


def test_a_rolled_back_conversation_deletion_keeps_its_files(user):
    session = conversation(user, turns=1)
    mine = stored(user, b"mine", "mine.txt")
    attach(session, mine)

    with pytest.raises(RuntimeError), transaction.atomic():
        ChatSession.objects.filter(pk=session.pk).delete()
        raise RuntimeError

    assert remaining(mine) == {"mine.txt"}


def test_deleting_an_account_deletes_all_its_files_and_their_bytes(
    user, other_user, django_capture_on_commit_callbacks
):
    attached = stored(user, b"attached", "attached.txt")
    unattached = stored(user, b"unattached", "unattached.txt")
    attach(conversation(user, turns=1), attached)
    theirs = stored(other_user, b"theirs", "theirs.txt")
    attach(conversation(other_user, turns=1), theirs)
    bystander = stored(UserFactory(), b"bystander", "bystander.txt")

    with django_capture_on_commit_callbacks(execute=True):
        account_services.delete_account(user=user)

    assert remaining(attached, unattached, theirs, bystander) == {"theirs.txt", "bystander.txt"}
    assert set(StoredFile.objects.values_list("name", flat=True)) == {
        "theirs.txt",
        "bystander.txt",
    }


@pytest.mark.django_db(transaction=True)
def test_a_committed_conversation_deletion_removes_its_files_for_real(api, user, other_user):
    session = conversation(user, turns=1)
    mine = stored(user, b"mine", "mine.txt")
    theirs = stored(other_user, b"theirs", "theirs.txt")
    attach(session, mine)
    attach(conversation(other_user, turns=1), theirs)

    assert api.delete(f"/api/chat/sessions/{session.pk}").status_code == 200

    assert remaining(mine, theirs) == {"theirs.txt"}
