"""Files sent from a browser tab: the WebSocket's send takes ``attachments`` through the same
door as the API, so the model receives them and refusals come back as the tab's errors."""

from __future__ import annotations

import copy

import pytest
from asgiref.sync import sync_to_async

from attachments.models import MessageAttachment
from conversations.models import Message
from tests.attachments.samples import image_bytes, stored
from tests.factories import UserFactory
from tests.web.conftest import receive_until, settle

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def file_storage_dir(settings, tmp_path):
    storages = copy.deepcopy(settings.STORAGES)
    storages["attachments"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": tmp_path / "attachments"},
    }
    settings.STORAGES = storages


async def test_a_tab_sends_a_document_with_its_message(upstream, sockets):
    user = await sync_to_async(UserFactory)()
    note = await sync_to_async(stored)(user, b"Revenue: 12", "q3.csv")
    socket = await sockets(user)

    await socket.send_json_to({"type": "send", "text": "Summarize", "attachments": [str(note.pk)]})
    events = await receive_until(socket, "reply")
    await settle(events[-1]["message"]["messageId"])
    await socket.send_json_to({"type": "regenerate", "sessionId": events[0]["sessionId"]})
    again = await receive_until(socket, "reply")
    await settle(again[-1]["message"]["messageId"])
    regenerated = next(event for event in again if event["type"] == "turn")

    # Every tab sees the files on the message, in the turn and in the regenerated turn.
    shown = [
        {
            "fileId": str(note.pk),
            "name": "q3.csv",
            "size": 11,
            "contentType": note.content_type,
            "kind": "document",
        }
    ]
    assert events[0]["userMessage"]["attachments"] == regenerated["userMessage"]["attachments"]
    assert events[0]["userMessage"]["attachments"] == shown
    assert events[0]["reply"]["attachments"] == []

    sent = upstream.reply_requests()[0]["messages"][1:]
    assert upstream.reply_requests()[-1]["messages"][1:] == sent
    assert sent == [
        {"role": "user", "content": 'Summarize\n\n<file name="q3.csv">\nRevenue: 12\n</file>'}
    ]
    question = await Message.objects.aget(session__user=user, role="user")
    assert await MessageAttachment.objects.filter(message=question, file=note).aexists()


async def test_a_tab_is_told_when_a_file_is_refused_and_nothing_is_stored(upstream, sockets):
    user, other = await sync_to_async(UserFactory)(), await sync_to_async(UserFactory)()
    theirs = await sync_to_async(stored)(other, b"theirs", "theirs.txt")
    image = await sync_to_async(stored)(user, image_bytes("PNG"), "shot.png")
    socket = await sockets(user)

    await socket.send_json_to(
        {"type": "send", "text": "Read", "attachments": [str(theirs.pk)], "requestId": "r1"}
    )
    not_found = await socket.receive_json_from(timeout=5)
    # The default model of the settings takes no images.
    await socket.send_json_to({"type": "send", "text": "Look", "attachments": [str(image.pk)]})
    no_images = await socket.receive_json_from(timeout=5)
    await socket.send_json_to({"type": "send", "text": "Look", "attachments": "all"})
    not_a_list = await socket.receive_json_from(timeout=5)

    assert not_found == {
        "type": "error",
        "detail": "File not found.",
        "code": "not_found",
        "requestId": "r1",
    }
    assert no_images["code"] == "invalid"
    assert no_images["detail"].startswith("This model does not accept images")
    assert not_a_list["detail"] == "Send at most 10 file ids as a list."
    assert not await Message.objects.filter(session__user=user).aexists()
    assert upstream.requests == []
