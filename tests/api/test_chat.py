"""POST /api/chat and regenerate, against the loopback upstream: the seed's workflows,
failures, limits, and the Server-Sent Events stream over a real ASGI server."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from accounts import services as account_services
from chatbot.env import parse_rate
from conversations.models import ChatSession, Message
from loopback.upstream import Behaviour
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def send(client, message, **extra):
    return client.post("/api/chat", {"message": message, **extra}, content_type="application/json")


def rows(session_id) -> list[tuple[str, str, str]]:
    return list(
        Message.objects.filter(session_id=session_id)
        .order_by("sequence")
        .values_list("role", "status", "content")
    )


def sse_events(text: str) -> list[tuple[str, dict]]:
    events, name = [], None
    for line in text.splitlines():
        if line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            events.append((name, json.loads(line.split(":", 1)[1])))
    return events


def test_start_conversation(api, user, upstream):
    response = send(api, "Hello, who are you?")

    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "You said: Hello, who are you?"
    assert body["status"] == "complete"
    session = ChatSession.objects.get(pk=body["sessionId"], user=user)
    assert str(session.messages.get(role="assistant").pk) == body["messageId"]
    assert rows(session.pk) == [
        ("user", "complete", "Hello, who are you?"),
        ("assistant", "complete", "You said: Hello, who are you?"),
    ]
    assert upstream.reply_requests()[-1]["messages"][-1] == {
        "role": "user",
        "content": "Hello, who are you?",
    }


def test_continue_conversation(api, upstream):
    first = send(api, "My name is Ada.").json()

    response = send(api, "What is my name?", sessionId=first["sessionId"])

    assert response.status_code == 200
    assert response.json()["sessionId"] == first["sessionId"]
    assert response.json()["message"] == "You said: What is my name?"
    received = upstream.reply_requests()[-1]["messages"]
    assert [(m["role"], m["content"]) for m in received[1:]] == [
        ("user", "My name is Ada."),
        ("assistant", "You said: My name is Ada."),
        ("user", "What is my name?"),
    ]
    assert received[0]["role"] == "system"


def test_get_conversation_history(api, upstream):
    first = send(api, "one").json()
    send(api, "two", sessionId=first["sessionId"])

    response = api.get(f"/api/chat/sessions/{first['sessionId']}/messages")

    assert response.status_code == 200
    history = response.json()
    assert [(m["role"], m["content"], m["status"]) for m in history] == [
        ("user", "one", "complete"),
        ("assistant", "You said: one", "complete"),
        ("user", "two", "complete"),
        ("assistant", "You said: two", "complete"),
    ]
    assert history[1]["messageId"] == first["messageId"]
    assert all(m["createdAt"].endswith("+00:00") for m in history)


def test_upstream_down_answers_503_and_keeps_the_message(api, upstream):
    # The SDK retries once in the test settings: both attempts fail.
    upstream.push(Behaviour(status=503), Behaviour(status=503))

    response = send(api, "Are you there?")

    assert response.status_code == 503
    body = response.json()
    assert body["detail"] == "The assistant is unavailable right now. Please try again in a moment."
    assert body["code"] == "model_unavailable"
    for secret in ("upstream secret failure", "127.0.0.1", "sk-test-secret-key"):
        assert secret not in response.content.decode()
    assert len(upstream.chat_requests()) == 2
    assert rows(body["sessionId"]) == [
        ("user", "complete", "Are you there?"),
        ("assistant", "failed", ""),
    ]
    assert Message.objects.get(pk=body["messageId"]).status == "failed"


def test_upstream_recovering_within_the_retries_answers_200(api, upstream):
    upstream.push(Behaviour(status=503))

    response = send(api, "Retry me")

    assert response.status_code == 200
    assert response.json()["message"] == "You said: Retry me"


def test_rate_limit_answers_429_with_retry_after(api, upstream, settings):
    settings.CHATBOT_RATE_LIMIT = parse_rate("1/min")
    assert send(api, "first").status_code == 200

    response = send(api, "second")

    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert "too quickly" in response.json()["detail"]
    assert 1 <= int(response["Retry-After"]) <= 61


def test_daily_token_quota_answers_429(api, upstream, settings):
    # A send is refused once its prompt (about 30 tokens here) no longer fits.
    settings.CHATBOT_DAILY_TOKEN_QUOTA = 40
    assert send(api, "use up the allowance please").status_code == 200

    response = send(api, "one more")

    assert response.status_code == 429
    assert response.json()["code"] == "quota_exceeded"
    assert response.json()["detail"] == (
        "You have used today's token allowance. It resets at midnight UTC."
    )
    assert int(response["Retry-After"]) <= 86401


def test_suspended_user_cannot_send_but_can_read(api, user, upstream):
    session_id = send(api, "before").json()["sessionId"]
    user.chat_suspended = True
    user.save(update_fields=["chat_suspended"])

    response = send(api, "after", sessionId=session_id)

    assert response.status_code == 403
    assert response.json()["code"] == "suspended"
    assert api.get(f"/api/chat/sessions/{session_id}/messages").status_code == 200
    assert Message.objects.filter(session_id=session_id).count() == 2


def test_regenerate_keeps_the_old_answer_as_a_sibling_and_shows_the_new_one(api, upstream):
    first = send(api, "Tell me a joke").json()
    # The first reply's title may be asked for after this line: a queued behaviour could
    # go to it, so every later request gets the new answer.
    upstream.default = Behaviour(content="A better joke")

    response = api.post(
        f"/api/chat/sessions/{first['sessionId']}/regenerate", {}, content_type="application/json"
    )

    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "A better joke" and body["sessionId"] == first["sessionId"]
    assert body["messageId"] != first["messageId"]
    assert rows(first["sessionId"]) == [
        ("user", "complete", "Tell me a joke"),
        ("assistant", "complete", "You said: Tell me a joke"),
        ("assistant", "complete", "A better joke"),
    ]
    # The model saw only the question, not the old answer.
    assert [m["content"] for m in upstream.reply_requests()[-1]["messages"][1:]] == [
        "Tell me a joke"
    ]
    branch = api.get(f"/api/chat/sessions/{first['sessionId']}/messages").json()
    assert [m["content"] for m in branch] == ["Tell me a joke", "A better joke"]
    assert branch[1]["siblingIds"] == [first["messageId"], body["messageId"]]
    assert branch[1]["parentId"] == branch[0]["messageId"]
    session = api.get(f"/api/chat/sessions/{first['sessionId']}").json()
    assert session["currentMessageId"] == body["messageId"]


def test_regenerate_with_nothing_to_answer_is_409(api, user):
    session = ChatSession.objects.create(user=user)

    # No body at all, as "curl -X POST" sends.
    response = api.generic("POST", f"/api/chat/sessions/{session.pk}/regenerate")

    assert response.status_code == 409
    assert response.json()["code"] == "nothing_to_regenerate"


# --- Server-Sent Events over the real ASGI server ----------------------------------------


def bearer(user) -> dict:
    return {"Authorization": f"Bearer {account_services.issue_token(user=user).token}"}


def test_stream_sends_session_deltas_and_done(live_app, upstream):
    user = UserFactory()
    upstream.push(Behaviour(tokens=5, token_gap=0.01))

    with httpx.Client(base_url=live_app, headers=bearer(user), timeout=20) as client:
        response = client.post(
            "/api/chat",
            json={"message": "Stream to me", "stream": True},
            headers={"Accept": "text/event-stream"},
        )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    events = sse_events(response.text)
    names = [name for name, _ in events]
    assert names[0] == "session" and names[-1] == "done"
    assert set(names[1:-1]) == {"delta"} and len(names) >= 3
    session, done = events[0][1], events[-1][1]
    streamed = "".join(data["content"] for name, data in events if name == "delta")
    assert streamed == done["message"] == "tok0 tok1 tok2 tok3 tok4 "
    assert done["sessionId"] == session["sessionId"]
    stored = Message.objects.get(pk=done["messageId"])
    assert (stored.status, stored.content) == ("complete", done["message"])
    assert str(Message.objects.get(pk=session["userMessageId"]).session_id) == done["sessionId"]


def test_stream_reports_upstream_failure_as_error_event(live_app, upstream):
    user = UserFactory()
    upstream.push(Behaviour(status=503), Behaviour(status=503))

    with httpx.Client(base_url=live_app, headers=bearer(user), timeout=20) as client:
        response = client.post("/api/chat", json={"message": "Fail", "stream": True})

    events = sse_events(response.text)
    assert [name for name, _ in events] == ["session", "error"]
    error = events[-1][1]
    assert error["detail"] == (
        "The assistant is unavailable right now. Please try again in a moment."
    )
    assert Message.objects.get(pk=error["messageId"]).status == "failed"
    assert "upstream secret failure" not in response.text


def test_stream_errors_before_the_stream_are_json(live_app):
    user = UserFactory()

    with httpx.Client(base_url=live_app, headers=bearer(user), timeout=20) as client:
        response = client.post(
            "/api/chat",
            json={"message": "   ", "stream": True},
            headers={"Accept": "text/event-stream"},
        )

    assert response.status_code == 400
    assert response.json()["field"] == "message"


def test_client_that_disconnects_after_first_delta_still_gets_the_reply_saved(live_app, upstream):
    user = UserFactory()
    upstream.push(Behaviour(tokens=20, token_gap=0.05))

    session = None
    with (
        httpx.Client(base_url=live_app, headers=bearer(user), timeout=20) as client,
        client.stream("POST", "/api/chat", json={"message": "Go", "stream": True}) as stream,
    ):
        for line in stream.iter_lines():
            if line.startswith("data:") and session is None:
                session = json.loads(line[5:])
            elif line == "event: delta":
                break
    # The connection is closed here, long before the 20 pieces (1 s) are through.

    reply = Message.objects.get(session_id=session["sessionId"], role="assistant")
    deadline = time.monotonic() + 30
    while reply.status == "streaming" and time.monotonic() < deadline:
        time.sleep(0.1)
        reply.refresh_from_db()
    assert reply.status == "complete"
    assert reply.content == "".join(f"tok{n} " for n in range(20))


def test_a_stream_waiting_for_the_model_sends_keepalive_comments(live_app, upstream, monkeypatch):
    from conversations.api import streaming

    monkeypatch.setattr(streaming, "KEEPALIVE_SECONDS", 0.1)
    user = UserFactory()
    upstream.push(Behaviour(tokens=3, first_token_delay=0.8))

    with httpx.Client(base_url=live_app, headers=bearer(user), timeout=20) as client:
        response = client.post("/api/chat", json={"message": "Take your time", "stream": True})

    before_first_delta = response.text.split("event: delta", 1)[0]
    assert before_first_delta.count(": keep-alive\n\n") >= 3
    events = sse_events(response.text)
    assert "".join(d["content"] for name, d in events if name == "delta") == "tok0 tok1 tok2 "
    assert events[-1][0] == "done"
