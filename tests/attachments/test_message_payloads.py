"""Files on messages as people see them: in the API's message list (read in one query per
page), hidden with a hidden message from its owner, and in a moderator's export."""

from __future__ import annotations

import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from attachments.models import StoredFile
from conversations import moderation, services
from conversations.models import ChatSession, Message
from tests.attachments import samples
from tests.attachments.samples import stored
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NOTE = 'Summarize\n\n<file name="q3.csv">\nRevenue: 12\n</file>'


def shown(file: StoredFile) -> dict:
    return {
        "fileId": str(file.pk),
        "name": file.name,
        "size": file.size,
        "contentType": file.content_type,
        "kind": file.kind,
    }


def chat(user, *sends) -> ChatSession:
    """A conversation of ``sends`` ((text, files) pairs), each reply complete."""
    session_id = None
    for text, files in sends:
        turn = services.check_send(
            user=user, text=text, session_id=session_id, attachments=[f.pk for f in files]
        ).turn
        session_id = turn.session.pk
        Message.objects.filter(pk=turn.reply.pk).update(status="complete", content="ok")
    return ChatSession.objects.get(pk=session_id)


def test_a_moderators_export_lists_the_files_of_every_message_hidden_ones_too():
    moderator, user = UserFactory(is_staff=True), UserFactory()
    note = stored(user, b"Revenue: 12", "q3.csv")
    session = chat(user, ("Summarize", [note]), ("Thanks", []))
    Message.objects.filter(session=session, content="Summarize").update(hidden=True)

    with CaptureQueriesContext(connection) as captured:
        (exported,) = moderation.export_sessions(
            moderator=moderator, sessions=ChatSession.objects.filter(pk=session.pk)
        )

    assert [(m["content"], m["attachments"]) for m in exported["messages"]] == [
        ("Summarize", [shown(note)]),
        ("ok", []),
        ("Thanks", []),
        ("ok", []),
    ]
    # The sessions, their messages, their files, and the admin log: no query per message.
    assert len([q for q in captured.captured_queries if "attachment" in q["sql"]]) == 1


def send(api, message, **extra):
    return api.post(
        "/api/chat", {"message": message, "stream": False, **extra}, content_type="application/json"
    )


@pytest.mark.django_db(transaction=True)
def test_a_send_over_the_api_takes_files_and_the_message_list_shows_them(api, user, upstream):
    note = stored(user, b"Revenue: 12", "q3.csv")

    response = send(api, "Summarize", attachments=[str(note.pk)])

    assert response.status_code == 200
    sent = upstream.reply_requests()[-1]["messages"][1:]
    assert sent == [{"role": "user", "content": NOTE}]
    listed = api.get(f"/api/chat/sessions/{response.json()['sessionId']}/messages").json()
    assert [(m["role"], m["attachments"]) for m in listed] == [
        ("user", [shown(note)]),
        ("assistant", []),
    ]


@pytest.mark.django_db(transaction=True)
def test_refused_files_over_the_api_are_clear_errors_and_nothing_is_stored(
    api, user, other_user, upstream
):
    theirs = stored(other_user, b"theirs", "theirs.txt")
    image = stored(user, samples.image_bytes("PNG"), "shot.png")
    long = stored(user, b"word " * 200_000, "long.txt")

    not_found = send(api, "Read", attachments=[str(theirs.pk)])
    no_images = send(api, "Look", attachments=[str(image.pk)])
    too_long = send(api, "Read", attachments=[str(long.pk)])
    too_many = send(api, "Read", attachments=[str(uuid.uuid4()) for _ in range(11)])
    not_ids = send(api, "Read", attachments=["q3.csv"])

    assert (not_found.status_code, not_found.json()["detail"]) == (404, "File not found.")
    for refused in (no_images, too_long, too_many, not_ids):
        assert refused.status_code == 400
        assert refused.json()["field"] == "attachments"
    assert no_images.json()["detail"].startswith("This model does not accept images")
    assert re.fullmatch(
        r"The attachments need \d+ tokens but only \d+ are available in this model's "
        r"context\. Attach fewer or shorter files\.",
        too_long.json()["detail"],
    )
    assert not Message.objects.filter(session__user=user).exists()
    assert upstream.requests == []


def message_list_queries(api, session: ChatSession) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert api.get(f"/api/chat/sessions/{session.pk}/messages").status_code == 200
    return len(captured.captured_queries)


def test_the_message_list_reads_files_in_one_query_and_none_without_files(api, user):
    note = stored(user, b"Revenue: 12", "q3.csv")
    one = chat(user, ("Summarize", [note]), ("Thanks", []))
    many = chat(user, *[(f"Look {n}", [note]) for n in range(5)])
    plain = chat(user, ("Hello", []), ("Thanks", []))

    with_files = message_list_queries(api, one)

    assert message_list_queries(api, many) == with_files
    assert message_list_queries(api, plain) == with_files - 1


def test_a_hidden_messages_files_are_hidden_from_its_owner(api, user):
    note = stored(user, b"Revenue: 12", "q3.csv")
    session = chat(user, ("Summarize", [note]))
    Message.objects.filter(session=session, role="user").update(hidden=True)

    listed = api.get(f"/api/chat/sessions/{session.pk}/messages").json()

    assert listed[0]["hidden"] is True and listed[0]["attachments"] == []
