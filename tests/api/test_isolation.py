"""Two users, every endpoint and method: another user's conversation answers exactly like
a missing one, and nothing of it changes. Without credentials, every endpoint is 401."""

from __future__ import annotations

import uuid

import pytest

from accounts import services as account_services
from conversations.models import ChatSession, Message
from tests.factories import conversation

# Transactional: the async chat views read through their own database connections.
pytestmark = pytest.mark.django_db(transaction=True)

NOT_FOUND = {"detail": "Conversation not found.", "code": "not_found"}

SESSION_CALLS = [
    ("get", "/api/chat/sessions/{id}", None),
    ("post", "/api/chat/sessions/{id}", {"title": "Taken over"}),
    ("patch", "/api/chat/sessions/{id}", {"title": "Taken over"}),
    ("delete", "/api/chat/sessions/{id}", None),
    ("get", "/api/chat/sessions/{id}/messages", None),
    ("post", "/api/chat/sessions/{id}/regenerate", {}),
    ("post", "/api/chat", {"message": "Hijack", "sessionId": "{id}"}),
]


def call(client, method: str, path: str, body, session_id):
    path = path.format(id=session_id)
    if body is None:
        return getattr(client, method)(path)
    body = {key: value.format(id=session_id) for key, value in body.items()}
    return getattr(client, method)(path, body, "application/json")


@pytest.mark.parametrize(("method", "path", "body"), SESSION_CALLS)
def test_another_users_session_is_404_like_a_missing_one(
    api, other_api, user, upstream, method, path, body
):
    theirs = conversation(user, turns=1, title="Private")
    before = list(Message.objects.filter(session=theirs).values_list("id", "content", "status"))

    stranger = call(other_api, method, path, body, theirs.pk)
    missing = call(other_api, method, path, body, uuid.uuid4())

    assert stranger.status_code == missing.status_code == 404
    assert stranger.json() == missing.json() == NOT_FOUND
    theirs.refresh_from_db()
    assert theirs.title == "Private"
    assert (
        list(Message.objects.filter(session=theirs).values_list("id", "content", "status"))
        == before
    )
    # The same call by the owner succeeds, so the 404 above is about ownership.
    assert call(api, method, path, body, theirs.pk).status_code == 200


# A bad sessionId in the body of POST /api/chat is 400 instead (see the input table).
@pytest.mark.parametrize(("method", "path", "body"), SESSION_CALLS[:-1])
def test_a_session_id_that_is_not_a_uuid_in_the_path_is_404(api, method, path, body):
    response = call(api, method, path, body, "not-a-uuid")

    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_list_and_search_show_only_your_sessions(api, other_api, user, other_user):
    mine = conversation(user, turns=1, title="Shared word")
    conversation(other_user, turns=1, title="Shared word")

    for client, owner in ((api, user), (other_api, other_user)):
        listed = client.get("/api/chat/sessions?q=shared").json()
        ids = {item["sessionId"] for item in listed}
        assert ids == {str(s.pk) for s in ChatSession.objects.filter(user=owner)}
    assert str(mine.pk) not in {i["sessionId"] for i in other_api.get("/api/chat/sessions").json()}


def test_another_users_token_cannot_be_revoked(other_api, user):
    theirs = account_services.issue_token(user=user).record

    response = other_api.delete(f"/api/auth/tokens/{theirs.token_key}")

    assert response.status_code == 404
    assert account_services.tokens_for_user(user).filter(pk=theirs.pk).exists()


ANONYMOUS_CALLS = [
    ("post", "/api/chat", {"message": "hi"}),
    ("get", "/api/chat/sessions", None),
    *SESSION_CALLS[:-1],
    ("delete", "/api/auth/token", None),
    ("get", "/api/auth/tokens", None),
    ("delete", "/api/auth/tokens/abcdef", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ANONYMOUS_CALLS)
def test_anonymous_is_401_everywhere(anonymous, user, method, path, body):
    session = conversation(user, turns=1)

    response = call(anonymous, method, path, body, session.pk)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Bearer"
    assert ChatSession.objects.filter(pk=session.pk).exists()
