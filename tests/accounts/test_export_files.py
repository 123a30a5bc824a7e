"""The user's own export and its files: each message lists its attachments (none for a
hidden message), read without a query per message; ``?format=zip`` holds export.json and
the user's files, byte for byte, and never another user's."""

from __future__ import annotations

import copy
import io
import json
import zipfile

import pytest
from django.test import Client

from accounts import services
from attachments import attaching
from attachments.models import StoredFile
from conversations.models import ChatSession, Message
from tests.attachments.samples import content_of, image_bytes, stored
from tests.factories import MessageFactory, conversation

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def file_storage_dir(settings, tmp_path):
    storages = copy.deepcopy(settings.STORAGES)
    storages["attachments"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": tmp_path / "attachments"},
    }
    settings.STORAGES = storages


def attach(message: Message, *files: StoredFile) -> None:
    attaching.attach(message=message, attached=attaching.Attached(files))


def user_messages(session: ChatSession) -> list[Message]:
    return list(session.messages.filter(role=Message.Role.USER).order_by("sequence"))


def described(file: StoredFile) -> dict:
    return {
        "fileId": str(file.pk),
        "name": file.name,
        "size": file.size,
        "contentType": file.content_type,
        "kind": file.kind,
    }


@pytest.fixture
def library(user, other_user):
    """The user's files: two on a shown message, one only on a hidden message, one attached
    to nothing; another user's file on their own message."""
    session = conversation(user, turns=2)
    shown, hidden = user_messages(session)
    Message.objects.filter(pk=hidden.pk).update(hidden=True)
    notes = stored(user, b"Meeting at noon.", "notes.txt")
    photo = stored(user, image_bytes("PNG"), "photo.png")
    secret = stored(user, b"on a hidden message", "hidden.txt")
    loose = stored(user, b"not attached", "loose.txt")
    attach(shown, notes, photo)
    attach(hidden, secret)
    theirs = stored(other_user, b"their words", "theirs.txt")
    attach(user_messages(conversation(other_user, turns=1))[0], theirs)
    return {"notes": notes, "photo": photo, "secret": secret, "loose": loose, "theirs": theirs}


def test_each_exported_message_lists_its_attachments_but_a_hidden_ones(user, library):
    [exported] = services.export_user_data(user)["conversations"]

    assert [m["attachments"] for m in exported["messages"]] == [
        [described(library["notes"]), described(library["photo"])],
        [],
        [],  # hidden: its file is hidden with it
        [],
    ]
    assert "hidden.txt" not in json.dumps(exported)


def test_the_export_reads_attachments_without_a_query_per_message(
    user, library, django_assert_num_queries
):
    with django_assert_num_queries(3):  # conversations, messages, their files
        services.export_user_data(user)
    session = ChatSession.objects.get(user=user)
    for sequence in range(10, 30):
        message = MessageFactory(session=session, role=Message.Role.USER, sequence=sequence)
        attach(message, library["loose"])

    with django_assert_num_queries(3):
        exported = services.export_user_data(user)

    assert sum(len(m["attachments"]) for m in exported["conversations"][0]["messages"]) == 22


def test_the_zip_export_holds_the_json_and_the_users_own_files(client, user, library):
    client.force_login(user)

    response = client.get("/settings/export/?format=zip")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="chatbot-export-')
    body = content_of(response)
    assert int(response["Content-Length"]) == len(body)
    archive = zipfile.ZipFile(io.BytesIO(body))
    exported = json.loads(archive.read("export.json"))
    shown = [library[name] for name in ("notes", "photo", "loose")]
    assert sorted(exported["files"], key=lambda f: f["name"]) == sorted(
        ({**described(file), "path": f"files/{file.pk}-{file.name}"} for file in shown),
        key=lambda f: f["name"],
    )
    assert sorted(archive.namelist()) == sorted(
        ["export.json", *(f"files/{file.pk}-{file.name}" for file in shown)]
    )
    assert archive.read(f"files/{library['notes'].pk}-notes.txt") == b"Meeting at noon."
    assert archive.read(f"files/{library['photo'].pk}-photo.png")[:8] == b"\x89PNG\r\n\x1a\n"
    assert [c["sessionId"] for c in exported["conversations"]] == [
        str(ChatSession.objects.get(user=user).pk)
    ]
    assert b"their words" not in body and b"on a hidden message" not in body


def test_the_export_format_defaults_to_json_and_refuses_others(client: Client, user, library):
    client.force_login(user)

    default = client.get("/settings/export/")
    refused = client.get("/settings/export/?format=xml")

    assert default["Content-Type"] == "application/json"
    assert json.loads(default.content)["conversations"][0]["messages"][0]["attachments"]
    assert (refused.status_code, refused.json()) == (
        400,
        {"detail": "Choose format=json or format=zip."},
    )


def test_an_export_without_files_is_a_zip_with_only_the_json(client, other_user):
    client.force_login(other_user)

    archive = zipfile.ZipFile(io.BytesIO(content_of(client.get("/settings/export/?format=zip"))))

    assert archive.namelist() == ["export.json"]
    assert json.loads(archive.read("export.json"))["files"] == []


def test_settings_offers_both_exports(user):
    client = Client()
    client.force_login(user)

    page = client.get("/settings/").content.decode()

    assert 'href="/settings/export/"' in page
    assert 'href="/settings/export/?format=zip"' in page
