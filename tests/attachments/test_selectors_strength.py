"""``attachments.selectors`` read directly, with a second user's files and messages present:
what each read returns and what it must not (another user's file, a hidden message's),
in which order, and in how many queries."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from attachments import attaching, selectors
from attachments.errors import FileNotFound
from attachments.models import MessageAttachment, StoredFile
from conversations.models import Message
from tests.attachments.samples import stored
from tests.factories import conversation

pytestmark = pytest.mark.django_db


def messages_of(user, turns=1) -> list[Message]:
    session = conversation(user, turns=turns)
    return list(Message.objects.filter(session=session).order_by("sequence"))


def attach(message, *files) -> None:
    attaching.attach(message=message, attached=attaching.Attached(files))


def test_files_of_and_file_of_read_the_owners_files_only(user, other_user):
    mine = stored(user, b"mine", "mine.txt")
    theirs = stored(other_user, b"theirs", "theirs.txt")

    assert list(selectors.files_of(user=user)) == [mine]
    assert selectors.file_of(user=user, file_id=mine.pk) == mine
    for file_id in (theirs.pk, "0e4f1b52-7d43-4a8e-9a57-5d2b4d1c2a10"):
        with pytest.raises(FileNotFound) as refusal:
            selectors.file_of(user=user, file_id=file_id)
        assert (refusal.value.status_code, refusal.value.detail) == (404, "File not found.")


def test_storage_used_sums_the_owners_sizes(user, other_user):
    assert selectors.storage_used(user=user) == 0
    stored(other_user, b"x" * 100, "theirs.txt")
    assert selectors.storage_used(user=user) == 0

    stored(user, b"x" * 12, "a.txt")
    stored(user, b"x" * 30, "b.txt")

    assert selectors.storage_used(user=user) == 42


def test_the_export_holds_loose_and_shown_files_oldest_first_never_a_hidden_messages(
    user, other_user
):
    question, _answer = messages_of(user)
    hidden, _reply = messages_of(user)
    Message.objects.filter(pk=hidden.pk).update(hidden=True)
    loose = stored(user, b"loose", "loose.txt")
    shown = stored(user, b"shown", "shown.txt")
    only_hidden = stored(user, b"only hidden", "hidden.txt")
    both = stored(user, b"both", "both.txt")
    theirs = stored(other_user, b"theirs", "theirs.txt")
    attach(question, shown, both)
    attach(hidden, only_hidden, both)
    attach(messages_of(other_user)[0], theirs)
    start = timezone.now() - timedelta(days=1)
    for offset, file in enumerate((both, loose, shown, only_hidden)):
        StoredFile.objects.filter(pk=file.pk).update(created_at=start + timedelta(minutes=offset))

    assert list(selectors.exported_files(user=user)) == [both, loose, shown]


def test_files_of_the_same_time_are_exported_in_id_order(user):
    files = [stored(user, f"{n}".encode(), f"{n}.txt") for n in range(3)]
    StoredFile.objects.update(created_at=timezone.now())

    assert list(selectors.exported_files(user=user)) == sorted(files, key=lambda f: f.pk)


def test_files_by_message_in_attachment_order_in_one_query(
    user, other_user, django_assert_num_queries
):
    first, _ = messages_of(user)
    second, _ = messages_of(user)
    theirs, _ = messages_of(other_user)
    a, b, c = (stored(user, f"{n}".encode(), f"{n}.txt") for n in "abc")
    attach(first, c, a)
    attach(second, b)
    attach(theirs, stored(other_user, b"t", "t.txt"))

    with django_assert_num_queries(1):
        found = selectors.files_by_message(iter([first.pk, second.pk]))

    assert found == {first.pk: [c, a], second.pk: [b]}


def test_marking_files_says_which_messages_have_files(user):
    question, answer = messages_of(user)
    attach(question, stored(user, b"n", "n.txt"))

    marked = selectors.marking_files(Message.objects.filter(session=question.session))

    assert {m.pk: m.has_files for m in marked} == {question.pk: True, answer.pk: False}


def test_with_attached_files_reads_users_messages_that_have_files_in_one_query(
    user, other_user, django_assert_num_queries
):
    question, answer = messages_of(user)
    later, _ = messages_of(user)
    unmarked, _ = messages_of(user)
    theirs_question, _ = messages_of(other_user)
    note = stored(user, b"n", "n.txt")
    attach(question, note)
    attach(unmarked, note)
    attach(theirs_question, stored(other_user, b"t", "t.txt"))
    # An assistant message given a link by hand: never read (only users send files).
    attach(answer, note)
    page = list(
        selectors.marking_files(Message.objects.filter(pk__in=[question.pk, answer.pk, later.pk]))
    )
    plain = Message.objects.get(pk=unmarked.pk)  # not marked: its files are read
    preset = Message.objects.get(pk=theirs_question.pk)
    preset.attached_files = ["kept"]

    with django_assert_num_queries(1):
        result = selectors.with_attached_files([*page, plain, preset])

    files = {m.pk: m.attached_files for m in result}
    assert files == {
        question.pk: [note],
        answer.pk: [],
        later.pk: [],
        unmarked.pk: [note],
        theirs_question.pk: ["kept"],
    }


def test_with_attached_files_needs_no_query_when_no_message_has_files(
    user, django_assert_num_queries
):
    question, _answer = messages_of(user)
    page = list(selectors.marking_files(Message.objects.filter(session=question.session)))

    with django_assert_num_queries(0):
        result = selectors.with_attached_files(page)

    assert [m.attached_files for m in result] == [[], []]


def test_messages_whose_files_are_set_already_are_not_read_again(user, django_assert_num_queries):
    question, _answer = messages_of(user)
    attach(question, stored(user, b"n", "n.txt"))
    (marked,) = selectors.marking_files(Message.objects.filter(pk=question.pk))
    marked.attached_files = ["set by the caller"]

    with django_assert_num_queries(0):
        (result,) = selectors.with_attached_files([marked])

    assert result.attached_files == ["set by the caller"]


def test_files_by_message_follow_the_position_not_the_order_the_links_were_written(user):
    question, _ = messages_of(user)
    first, second, third = (stored(user, f"{n}".encode(), f"{n}.txt") for n in range(3))
    for position, file in ((2, third), (0, first), (1, second)):
        MessageAttachment.objects.create(message=question, file=file, position=position)

    assert selectors.files_by_message([question.pk]) == {question.pk: [first, second, third]}


def file_row(user, file_id: uuid.UUID, created_at) -> StoredFile:
    """A file's row only (the export's order reads no bytes), with the id given."""
    return StoredFile.objects.create(
        id=file_id,
        owner=user,
        name=f"{file_id}.txt",
        size=1,
        content_type="text/plain",
        kind=StoredFile.Kind.DOCUMENT,
        sha256="0" * 64,
        key=f"{user.pk}/{file_id.hex}",
        created_at=created_at,
    )


def test_the_export_is_in_upload_order_whatever_the_ids(user, other_user):
    ids = sorted(uuid.uuid4() for _ in range(3))
    start = timezone.now() - timedelta(days=1)
    # The highest id uploaded first: id order is the reverse of upload order.
    files = [
        file_row(user, file_id, start + timedelta(minutes=n)) for n, file_id in enumerate(ids[::-1])
    ]
    file_row(other_user, uuid.uuid4(), start)

    assert list(selectors.exported_files(user=user)) == files


def test_files_uploaded_at_once_are_exported_in_id_order_whatever_their_row_order(user):
    ids = sorted(uuid.uuid4() for _ in range(3))
    now = timezone.now()
    for file_id in ids[::-1]:  # rows written highest id first
        file_row(user, file_id, now)

    assert [file.pk for file in selectors.exported_files(user=user)] == ids
