"""PATCH on a conversation sets its model and its own instructions, validated like a send."""

from __future__ import annotations

import pytest

from conversations.models import ChatSession
from tests.api.conftest import bearer_client

pytestmark = pytest.mark.django_db(transaction=True)


def send(client, **body):
    return client.post("/api/chat", body, content_type="application/json")


def test_patch_sets_the_model_and_instructions(providers, user, second_upstream):
    client = bearer_client(user)
    session_id = send(client, message="one").json()["sessionId"]
    response = client.patch(
        f"/api/chat/sessions/{session_id}",
        {"model": "strong", "instructions": "Answer in French."},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["model"] == "strong"
    assert response.json()["instructions"] == "Answer in French."
    send(client, message="two", sessionId=session_id)
    system = second_upstream.reply_requests()[-1]["messages"][0]["content"]
    assert system.endswith("Instructions for this conversation:\nAnswer in French.")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "research"}, "model"),
        ({"model": 5}, "model"),
        ({"instructions": "x" * 4001}, "instructions"),
        ({"instructions": "bad\x00"}, "instructions"),
    ],
)
def test_patch_refuses_a_bad_model_or_instructions(providers, user, body, field):
    client = bearer_client(user)
    session_id = send(client, message="one").json()["sessionId"]
    response = client.patch(
        f"/api/chat/sessions/{session_id}", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["field"] == field
    session = ChatSession.objects.get()
    assert (session.model, session.instructions) == ("fast", "")


def test_patch_of_another_users_conversation_is_not_found(providers, user, other_user):
    session_id = send(bearer_client(other_user), message="one").json()["sessionId"]
    response = bearer_client(user).patch(
        f"/api/chat/sessions/{session_id}", {"model": "strong"}, content_type="application/json"
    )
    assert response.status_code == 404
    assert ChatSession.objects.get().model == "fast"


def test_too_long_instructions_are_refused_with_their_count(providers, user):
    client = bearer_client(user)
    session_id = send(client, message="one").json()["sessionId"]
    response = client.patch(
        f"/api/chat/sessions/{session_id}",
        {"instructions": "x" * 4001},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "4001 characters, the limit is 4000" in response.json()["detail"]
    assert ChatSession.objects.get().instructions == ""
