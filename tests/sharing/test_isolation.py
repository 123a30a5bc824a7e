"""Every path of issue 19 (share, export, organize, feedback) with two users: another user's
conversation or reply answers exactly like a missing one, and nothing of it changes."""

from __future__ import annotations

import uuid

import pytest

from conversations.models import ChatSession
from sharing.models import MessageFeedback, SharedConversation
from tests.factories import conversation

pytestmark = pytest.mark.django_db

CALLS = [
    ("post", "/api/chat/sessions/{session}/share", None),
    ("delete", "/api/chat/sessions/{session}/share", None),
    ("get", "/api/chat/sessions/{session}/export?format=json", None),
    ("get", "/api/chat/sessions/{session}/export?format=md", None),
    ("put", "/api/chat/sessions/{session}/pin", None),
    ("delete", "/api/chat/sessions/{session}/pin", None),
    ("put", "/api/chat/sessions/{session}/archive", None),
    ("delete", "/api/chat/sessions/{session}/archive", None),
    ("patch", "/api/chat/sessions/{session}", {"pinned": True}),
    ("patch", "/api/chat/sessions/{session}", {"archived": True}),
    ("post", "/api/chat/sessions/{session}", {"pinned": True, "archived": True}),
    ("put", "/api/chat/messages/{reply}/feedback", {"rating": "down", "comment": "x"}),
    ("delete", "/api/chat/messages/{reply}/feedback", None),
]


def call(client, method: str, path: str, body, *, session, reply):
    path = path.format(session=session, reply=reply)
    if body is None:
        return getattr(client, method)(path)
    return getattr(client, method)(path, body, "application/json")


def state(session: ChatSession) -> tuple:
    row = ChatSession.objects.values_list("title", "pinned", "archived", "updated_at")
    return (
        row.get(pk=session.pk),
        SharedConversation.objects.filter(session=session).count(),
        list(MessageFeedback.objects.filter(message__session=session).values_list("rating")),
    )


@pytest.mark.parametrize(("method", "path", "body"), CALLS)
def test_another_users_conversation_is_404_like_a_missing_one(
    api, other_api, user, method, path, body
):
    theirs = conversation(user, turns=1, title="Private")
    reply = theirs.messages.get(role="assistant")
    MessageFeedback.objects.create(user=user, message=reply, rating="up")
    before = state(theirs)

    stranger = call(other_api, method, path, body, session=theirs.pk, reply=reply.pk)
    missing = call(other_api, method, path, body, session=uuid.uuid4(), reply=uuid.uuid4())

    assert stranger.status_code == missing.status_code == 404
    assert stranger.json() == missing.json()
    assert stranger.json()["detail"].endswith("not found.")
    assert state(theirs) == before
    # The owner's same call succeeds: the 404 is about ownership.
    assert call(api, method, path, body, session=theirs.pk, reply=reply.pk).status_code == 200
