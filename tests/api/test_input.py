"""The input table: every kind of bad request is a 4xx with a human ``detail``, never a
500, and stores nothing. Run on SQLite and on PostgreSQL (which rejects NUL)."""

from __future__ import annotations

import json

import pytest
from django.conf import settings

from conversations.models import ChatSession, Message

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = 10_000  # CHATBOT_MAX_MESSAGE_CHARS's default, asserted below


def raw(document) -> bytes:
    return json.dumps(document).encode()


BAD_BODIES = [
    pytest.param(raw({}), 400, "message", id="no message"),
    pytest.param(raw({"message": ""}), 400, "message", id="empty"),
    pytest.param(raw({"message": " \n\t "}), 400, "message", id="blank after trim"),
    pytest.param(raw({"message": "\u3000\xa0\u2003"}), 400, "message", id="unicode spaces"),
    pytest.param(raw({"message": "x" * (LIMIT + 1)}), 400, "message", id="too long"),
    pytest.param(raw({"message": "a\x00b"}), 400, "message", id="NUL"),
    pytest.param(b'{"message": "lone \\ud800 surrogate"}', 400, "message", id="surrogate"),
    pytest.param(raw({"message": 5}), 400, "message", id="message is a number"),
    pytest.param(raw({"message": None}), 400, "message", id="message is null"),
    pytest.param(raw({"message": ["hi"]}), 400, "message", id="message is a list"),
    pytest.param(raw({"message": "hi", "stream": "yes"}), 400, "stream", id="stream is text"),
    pytest.param(raw({"message": "hi", "stream": 1}), 400, "stream", id="stream is 1"),
    pytest.param(raw({"message": "hi", "sessionId": "nope"}), 400, "sessionId", id="bad uuid"),
    pytest.param(raw({"message": "hi", "sessionId": 5}), 400, "sessionId", id="uuid number"),
    pytest.param(raw({"message": "hi", "sessionId": "\x00"}), 400, "sessionId", id="NUL id"),
    pytest.param(b'{"message": "unterminated', 400, None, id="malformed JSON"),
    pytest.param(b"[]", 400, None, id="array body"),
    pytest.param(b'["hi"]', 400, None, id="array of text"),
    pytest.param(b"null", 400, None, id="null body"),
    pytest.param(b'"hi"', 400, None, id="string body"),
    pytest.param(b"\xff\xfe\x00", 400, None, id="not UTF-8"),
    pytest.param(b"", 400, "message", id="empty body"),
]


@pytest.mark.parametrize(("body", "status", "field"), BAD_BODIES)
def test_bad_chat_request_is_rejected_naming_the_field(api, body, status, field):
    response = api.post("/api/chat", body, content_type="application/json")

    assert response.status_code == status
    error = response.json()
    assert isinstance(error["detail"], str) and error["detail"]
    if field:
        assert error["field"] == field
        assert field in error["detail"]
    assert not Message.objects.exists() and not ChatSession.objects.exists()


def test_message_at_the_limit_is_accepted(api, upstream):
    assert settings.CHATBOT_MAX_MESSAGE_CHARS == LIMIT

    response = api.post("/api/chat", {"message": "y" * LIMIT}, "application/json")

    assert response.status_code == 200
    assert Message.objects.get(role="user").content == "y" * LIMIT


def test_body_over_the_size_limit_is_413(api):
    body = raw({"message": "z" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)})

    response = api.post("/api/chat", body, content_type="application/json")

    assert response.status_code == 413
    assert "larger than the limit" in response.json()["detail"]


def test_form_encoded_body_is_415(api):
    response = api.post("/api/chat", {"message": "hi"})

    assert response.status_code == 415
    assert response.json()["detail"]


def test_null_session_id_starts_a_new_conversation(api, upstream):
    response = api.post("/api/chat", {"message": "hi", "sessionId": None}, "application/json")

    assert response.status_code == 200
    assert str(ChatSession.objects.get().pk) == response.json()["sessionId"]


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "title"), ({"title": "   "}, "title"), ({"title": "t" * 256}, "title")],
    ids=["no title", "blank title", "title over 255"],
)
@pytest.mark.parametrize("method", ["post", "patch"])
def test_rename_without_a_valid_title_is_400(api, user, method, body, field):
    session = ChatSession.objects.create(user=user, title="kept")

    response = getattr(api, method)(
        f"/api/chat/sessions/{session.pk}", body, content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["field"] == field
    session.refresh_from_db()
    assert session.title == "kept"


def test_unknown_session_id_is_404(api):
    response = api.post(
        "/api/chat",
        {"message": "hi", "sessionId": "00000000-0000-4000-8000-000000000000"},
        "application/json",
    )

    assert response.status_code == 404
    assert response.json()["detail"] == "Conversation not found."
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    "body",
    [b"[]", b'{"stream": "yes"}', b'{"stream": null}', b"{oops"],
    ids=["array", "stream text", "stream null", "malformed"],
)
def test_bad_regenerate_body_is_400(api, user, body):
    session = ChatSession.objects.create(user=user)

    response = api.post(
        f"/api/chat/sessions/{session.pk}/regenerate", body, content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["detail"]


def test_moderation_blocked_message_is_400_and_kept_for_review(api, upstream, settings):
    settings.CHATBOT_MODERATION = "block"

    response = api.post("/api/chat", {"message": "FLAGME please"}, "application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "blocked"
    kept = Message.objects.get()
    assert kept.flagged and kept.role == "user"
