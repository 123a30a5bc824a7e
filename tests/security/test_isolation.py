"""Isolation matrix: every page, WebSocket action and admin view, tried by a second user,
an anonymous client and a suspended user. The REST API rows of the same matrix live in
tests/api/test_isolation.py (second user and anonymous, every endpoint and method); the
suspended user's API rows are here.

- A second user: another user's conversation, message or token answers exactly like a
  random missing id (same status, same body), and nothing of it changes.
- Anonymous: pages redirect to the login page, the API is 401, the WebSocket is refused.
- Suspended: reads their own data everywhere, cannot send anywhere (403 ``suspended`` in
  the API, a ``suspended`` error on the WebSocket) and nothing is stored.
"""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from accounts import services as account_services
from conversations.models import ChatSession, Message
from tests.factories import MessageFactory, UserFactory, conversation

pytestmark = pytest.mark.django_db(transaction=True)


def snapshot(session: ChatSession) -> tuple:
    """Everything about a conversation that an intruder must not change."""
    session.refresh_from_db()
    rows = Message.objects.filter(session=session).order_by("sequence")
    return session.title, list(rows.values_list("id", "role", "status", "content"))


def page_call(client: Client, method: str, path: str, data: dict | None):
    if method == "get":
        return client.get(path)
    return client.post(path, data or {})


# --- Pages ------------------------------------------------------------------------------

# (method, path, form data): every page that names a conversation.
SESSION_PAGES = [
    ("get", "/c/{id}/", None),
    ("get", "/c/{id}/messages?before=5", None),
    ("get", "/c/{id}/rename/", None),
    ("post", "/c/{id}/rename/", {"title": "Taken over"}),
    ("get", "/c/{id}/delete/", None),
    ("post", "/c/{id}/delete/", None),
]


@pytest.mark.parametrize(("method", "path", "data"), SESSION_PAGES)
def test_second_user_gets_the_same_404_as_for_a_missing_conversation(
    client_for, user, other_user, method, path, data
):
    theirs = conversation(user, turns=1, title="Private")
    before = snapshot(theirs)
    intruder = client_for(other_user)

    stranger = page_call(intruder, method, path.format(id=theirs.pk), data)
    missing = page_call(intruder, method, path.format(id=uuid.uuid4()), data)

    assert stranger.status_code == missing.status_code == 404
    assert stranger.content == missing.content
    assert b"Private" not in stranger.content and b"question 0" not in stranger.content
    assert snapshot(theirs) == before
    # The owner's same call succeeds, so the 404 is about ownership, not the request.
    assert page_call(client_for(user), method, path.format(id=theirs.pk), data).status_code in {
        200,
        302,
    }


def test_second_user_cannot_revoke_a_token_and_is_told_as_for_a_missing_one(
    client_for, user, other_user
):
    theirs = account_services.issue_token(user=user).record
    intruder = client_for(other_user)

    stranger = intruder.post(f"/settings/tokens/{theirs.token_key}/revoke/")
    missing = intruder.post("/settings/tokens/deadbeef/revoke/")

    assert stranger.status_code == missing.status_code == 404
    assert stranger.content == missing.content
    assert account_services.tokens_for_user(user).filter(pk=theirs.pk).exists()


def test_settings_and_export_show_only_your_own_data(client_for, user, other_user):
    conversation(user, turns=1, title="Owner's secret plans")
    theirs = account_services.issue_token(user=user).record
    intruder = client_for(other_user)

    settings_page = intruder.get("/settings/").content.decode()
    export = intruder.get("/settings/export/").content.decode()
    sidebar = intruder.get("/sessions/").content.decode() + intruder.get("/").content.decode()

    for html in (settings_page, export, sidebar):
        assert theirs.token_key not in html
        assert "Owner's secret plans" not in html and "question 0" not in html
        assert user.username not in html and user.email not in html


# Every page, for a client that is not logged in: (method, path, form data).
ALL_PAGES = [
    ("get", "/", None),
    ("get", "/sessions/", None),
    *SESSION_PAGES,
    ("get", "/settings/", None),
    ("post", "/settings/", {"custom_instructions": "Be evil."}),
    ("post", "/settings/tokens/", None),
    ("post", "/settings/tokens/{key}/revoke/", None),
    ("get", "/settings/export/", None),
    ("post", "/settings/delete/", {"password": "anything"}),
]


@pytest.mark.parametrize(("method", "path", "data"), ALL_PAGES)
def test_anonymous_is_sent_to_the_login_page_and_changes_nothing(
    client_for, user, method, path, data
):
    session = conversation(user, turns=1, title="Private")
    token = account_services.issue_token(user=user).record
    before = snapshot(session)
    path = path.format(id=session.pk, key=token.token_key)

    response = page_call(client_for(None), method, path, data)

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == "/accounts/login/"
    assert parse_qs(location.query)["next"] == [path]
    assert snapshot(session) == before
    assert account_services.tokens_for_user(user).count() == 1
    user.refresh_from_db()
    assert user.custom_instructions == ""


def test_suspended_user_reads_own_pages_and_export(client_for, suspended_user):
    session = conversation(suspended_user, turns=1, title="Still mine")
    client = client_for(suspended_user)

    chat = client.get(f"/c/{session.pk}/")
    older = client.get(f"/c/{session.pk}/messages?before=99")
    export = client.get("/settings/export/")

    assert chat.status_code == 200 and b"answer 0" in chat.content
    assert b"Your chat access is suspended." in chat.content
    assert older.status_code == 200 and "question 0" in older.json()["html"]
    assert export.status_code == 200 and b"Still mine" in export.content


# --- REST API: the suspended user (second user and anonymous: tests/api/test_isolation.py)


def bearer(user) -> Client:
    return Client(
        headers={"Authorization": f"Bearer {account_services.issue_token(user=user).token}"}
    )


@pytest.mark.parametrize(
    "path",
    ["/api/chat/sessions", "/api/chat/sessions/{id}", "/api/chat/sessions/{id}/messages"],
)
def test_suspended_user_reads_own_data_through_the_api(suspended_user, path):
    session = conversation(suspended_user, turns=1, title="Still mine")

    response = bearer(suspended_user).get(path.format(id=session.pk))

    assert response.status_code == 200
    assert "Still mine" in response.content.decode() or "answer 0" in response.content.decode()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/chat", {"message": "new conversation"}),
        ("/api/chat", {"message": "continue", "sessionId": "{id}"}),
        ("/api/chat", {"message": "streamed", "stream": True}),
        ("/api/chat/sessions/{id}/regenerate", {}),
    ],
)
def test_suspended_user_cannot_send_through_the_api(suspended_user, upstream, path, body):
    session = conversation(suspended_user, turns=1)
    before = snapshot(session)
    body = {
        key: value.format(id=session.pk) if isinstance(value, str) else value
        for key, value in body.items()
    }

    response = bearer(suspended_user).post(
        path.format(id=session.pk), body, content_type="application/json"
    )

    assert response.status_code == 403
    assert response.json()["code"] == "suspended"
    assert "suspended" in response.json()["detail"]
    assert snapshot(session) == before
    assert ChatSession.objects.filter(user=suspended_user).count() == 1
    assert upstream.chat_requests() == []


# --- WebSocket --------------------------------------------------------------------------


async def error_for(socket, message: dict) -> dict:
    await socket.send_json_to(message)
    return await socket.receive_json_from(timeout=5)


@pytest.mark.parametrize(
    "message",
    [
        {"type": "send", "text": "let me in", "sessionId": "{session}"},
        {"type": "regenerate", "sessionId": "{session}"},
        {"type": "retry", "sessionId": "{session}"},
        {"type": "stop", "messageId": "{message}"},
    ],
    ids=["send", "regenerate", "retry", "stop"],
)
async def test_second_user_websocket_actions_are_answered_as_for_missing_ids(
    upstream, sockets, message
):
    owner, intruder = await sync_to_async(UserFactory)(), await sync_to_async(UserFactory)()
    session = await sync_to_async(conversation)(owner, turns=1)
    streaming = await sync_to_async(MessageFactory)(
        session=session, role="assistant", status="streaming", content="partial"
    )
    before = await sync_to_async(snapshot)(session)
    socket = await sockets(intruder)

    def aimed(session_id, message_id) -> dict:
        return {
            key: value.format(session=session_id, message=message_id)
            for key, value in message.items()
        }

    stranger = await error_for(socket, aimed(session.pk, streaming.pk))
    missing = await error_for(socket, aimed(uuid.uuid4(), uuid.uuid4()))

    assert stranger == missing
    assert stranger["type"] == "error" and stranger["code"] == "not_found"
    assert await sync_to_async(snapshot)(session) == before
    assert upstream.chat_requests() == []
    assert await socket.receive_nothing(timeout=0.2)


@pytest.mark.parametrize("cookie", [None, "sessionid=forged-session-key"])
async def test_anonymous_websocket_is_refused(cookie):
    from channels.testing import WebsocketCommunicator

    from chatbot.asgi import application

    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    socket = WebsocketCommunicator(application, "/ws/chat/", headers=headers)

    connected, code = await socket.connect(timeout=5)

    assert connected is False and code == 4401
    await socket.wait()


@pytest.mark.parametrize(
    "message",
    [
        {"type": "send", "text": "new conversation"},
        {"type": "send", "text": "continue", "sessionId": "{session}"},
        {"type": "regenerate", "sessionId": "{session}"},
        {"type": "retry", "sessionId": "{session}"},
    ],
    ids=["send-new", "send-continue", "regenerate", "retry"],
)
async def test_suspended_user_websocket_sends_are_refused(upstream, sockets, message):
    user = await sync_to_async(UserFactory)(chat_suspended=True)
    session = await sync_to_async(conversation)(user, turns=1)
    before = await sync_to_async(snapshot)(session)
    socket = await sockets(user)
    assert socket.connected, "a suspended user may still connect and read"

    error = await error_for(
        socket, {key: value.format(session=session.pk) for key, value in message.items()}
    )

    assert error["type"] == "error" and error["code"] == "suspended"
    assert await sync_to_async(snapshot)(session) == before
    assert await ChatSession.objects.filter(user=user).acount() == 1
    assert upstream.chat_requests() == []


# --- Admin ------------------------------------------------------------------------------

ADMIN_PAGES = [
    "/admin/",
    "/admin/conversations/chatsession/",
    "/admin/conversations/chatsession/{session}/change/",
    "/admin/conversations/chatsession/{session}/history/",
    "/admin/conversations/message/",
    "/admin/conversations/message/{message}/change/",
    "/admin/accounts/user/",
    "/admin/accounts/user/{user}/change/",
    "/admin/auth/group/",
]


@pytest.mark.parametrize("who", ["anonymous", "second user", "suspended user"])
@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_admin_is_closed_to_everyone_who_is_not_staff(client_for, user, who, path):
    session = conversation(user, turns=1, title="Private")
    visitor = {
        "anonymous": None,
        "second user": UserFactory(),
        "suspended user": UserFactory(chat_suspended=True),
    }[who]
    path = path.format(session=session.pk, message=session.messages.first().pk, user=user.pk)

    response = client_for(visitor).get(path, follow=True)

    final_path = urlsplit(response.redirect_chain[-1][0]).path if response.redirect_chain else ""
    assert final_path == "/accounts/login/" or response.status_code == 403, (
        response.status_code,
        response.redirect_chain,
    )
    assert b"question 0" not in response.content and b"Private" not in response.content


def test_admin_actions_are_closed_to_everyone_who_is_not_staff(client_for, user, other_user):
    session = conversation(user, turns=1, title="Private")
    message = session.messages.first()
    intruder = client_for(other_user)

    intruder.post(
        "/admin/conversations/message/",
        {"action": "hide", "_selected_action": [str(message.pk)]},
    )
    intruder.post(
        "/admin/accounts/user/",
        {"action": "suspend", "_selected_action": [str(user.pk)]},
    )
    intruder.post(f"/admin/conversations/chatsession/{session.pk}/delete/", {"post": "yes"})

    message.refresh_from_db()
    user.refresh_from_db()
    assert message.hidden is False and user.chat_suspended is False
    assert ChatSession.objects.filter(pk=session.pk).exists()
