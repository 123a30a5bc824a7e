"""Files on a message: only the caller's, images only for a model that takes them, within
the context budget (said in numbers), and exactly what the model is sent for them."""

from __future__ import annotations

import base64
import uuid

import pytest

from attachments import attaching
from attachments.models import MessageAttachment, StoredFile
from attachments.storage import file_storage
from conversations.models import ChatSession, Message
from core.errors import InvalidInput
from tests.attachments import samples
from tests.attachments.samples import upload
from tests.factories import conversation

pytestmark = pytest.mark.django_db


def uploaded(client, data: bytes, name: str) -> StoredFile:
    return StoredFile.objects.get(pk=upload(client, data, name).json()["fileId"])


def test_another_users_or_a_missing_file_is_not_found(api, other_api, user):
    mine = uploaded(api, b"mine", "mine.txt")
    theirs = uploaded(other_api, b"theirs", "theirs.txt")

    for ids in ([mine.pk, theirs.pk], [mine.pk, uuid.uuid4()]):
        with pytest.raises(Exception) as refused:
            attaching.check_attachments(user=user, file_ids=ids, accepts_images=True)
        assert (refused.value.status_code, refused.value.detail) == (404, "File not found.")


def test_an_image_for_a_model_without_images_is_refused_naming_attachments(api, user):
    image = uploaded(api, samples.image_bytes("PNG"), "shot.png")

    with pytest.raises(InvalidInput) as refused:
        attaching.check_attachments(user=user, file_ids=[image.pk], accepts_images=False)

    assert refused.value.field == "attachments"
    assert refused.value.detail.startswith("This model does not accept images")


def test_more_than_ten_files_or_a_repeat_is_refused(api, user):
    note = uploaded(api, b"note", "note.txt")

    for ids in ([uuid.uuid4() for _ in range(11)], [note.pk, note.pk]):
        with pytest.raises(InvalidInput) as refused:
            attaching.check_attachments(user=user, file_ids=ids, accepts_images=True)
        assert refused.value.field == "attachments"


def test_the_model_receives_documents_marked_by_name_and_images_as_data_urls(api, user):
    note = uploaded(api, b"Revenue: 12", "q3.csv")
    image = uploaded(api, samples.image_bytes("PNG"), "chart.png")
    attached = attaching.check_attachments(
        user=user, file_ids=[image.pk, note.pk], accepts_images=True
    )

    content = attaching.model_content(text="Summarize", attached=attached)

    assert content[0] == {
        "type": "text",
        "text": 'Summarize\n\n<file name="q3.csv">\nRevenue: 12\n</file>',
    }
    prefix = "data:image/png;base64,"
    assert content[1]["type"] == "image_url"
    assert content[1]["image_url"]["url"].startswith(prefix)
    sent = base64.b64decode(content[1]["image_url"]["url"].removeprefix(prefix))
    with file_storage().open(image.key, "rb") as stored:
        assert sent == stored.read()
    assert len(content) == 2


def test_documents_over_the_budget_are_refused_with_the_numbers(api, user):
    note = uploaded(api, b"word " * 300, "long.txt")
    attached = attaching.check_attachments(user=user, file_ids=[note.pk], accepts_images=False)

    with pytest.raises(InvalidInput) as refused:
        attaching.check_budget(attached=attached, available=100)

    assert refused.value.detail == (
        f"The attachments need {attached.tokens} tokens but only 100 are available in this "
        "model's context. Attach fewer or shorter files."
    )
    assert attached.tokens > 300


def test_an_attached_file_cannot_be_deleted_until_its_message_is_gone(
    api, user, django_capture_on_commit_callbacks
):
    note = uploaded(api, b"kept", "kept.txt")
    session = conversation(user, turns=2)
    for message in Message.objects.filter(session=session, role=Message.Role.USER):
        attaching.attach(message=message, attached=attaching.Attached((note,)))
    assert MessageAttachment.objects.filter(file=note).count() == 2  # on several messages

    refused = api.delete(f"/api/files/{note.pk}")
    ChatSession.objects.filter(pk=session.pk).delete()
    with django_capture_on_commit_callbacks(execute=True):
        allowed = api.delete(f"/api/files/{note.pk}")

    assert (refused.status_code, refused.json()["code"]) == (409, "file_attached")
    assert allowed.status_code == 200


def test_deleting_the_account_deletes_its_attached_files(api, user):
    note = uploaded(api, b"kept", "kept.txt")
    session = conversation(user, turns=1)
    message = Message.objects.filter(session=session, role=Message.Role.USER).get()
    attaching.attach(message=message, attached=attaching.Attached((note,)))

    user.delete()

    assert not StoredFile.objects.exists() and not MessageAttachment.objects.exists()
