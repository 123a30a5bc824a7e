"""Upstream faults, end to end over the real ASGI server: nothing is lost.

For every way the model upstream can fail, before or during a stream: the user's message
is kept, the partial reply is kept and marked failed, the client gets a friendly error
(503 JSON or an SSE ``error`` event) with nothing of the upstream's text, no message stays
``streaming``, and the next send works.
"""

from __future__ import annotations

import json

import pytest

from conversations.models import Message
from loopback.upstream import Behaviour

FAULTS = {
    "500 before": [Behaviour(status=500)] * 2,
    "503 before": [Behaviour(status=503)] * 2,
    "429 before": [Behaviour(status=429, retry_after="0")] * 2,
    "timeout before": [Behaviour(hang=True)] * 2,
    "timeout during": [Behaviour(content="alpha beta gamma delta", stall_after=2)],
    "dropped during": [Behaviour(content="alpha beta gamma delta", drop_after=2)],
    "malformed during": [Behaviour(content="alpha beta gamma delta", malformed_after=2)],
    "no finish": [Behaviour(content="alpha beta gamma delta", no_finish=True)],
}
# What each fault leaves of the reply: the text that arrived before it.
PARTIAL = {
    "timeout during": "alpha beta ",
    "dropped during": "alpha beta ",
    "malformed during": "alpha beta ",
    "no finish": "alpha beta gamma delta",
}


@pytest.fixture(autouse=True)
def _fail_fast(settings):
    settings.CHATBOT_LLM_MAX_RETRIES = 1
    settings.CHATBOT_LLM_TIMEOUT = 0.5


def sse_events(text: str) -> list[tuple[str, dict]]:
    events, kind = [], None
    for line in text.splitlines():
        if line.startswith("event:"):
            kind = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            events.append((kind, json.loads(line.split(":", 1)[1])))
    return events


def assert_nothing_lost(user, upstream, *, partial: str) -> Message:
    user_message = Message.objects.get(session__user=user, role="user")
    assert user_message.content == "tell me something"
    reply = Message.objects.get(session=user_message.session, role="assistant")
    assert reply.status == "failed"
    assert reply.content == partial
    assert not Message.objects.filter(status="streaming").exists()
    return reply


def assert_friendly(detail: str, upstream) -> None:
    assert detail and "secret" not in detail and upstream.base_url not in detail
    assert "Traceback" not in detail and "sk-test" not in detail


@pytest.mark.parametrize("fault", FAULTS)
def test_json_send_survives_upstream_fault(api, upstream, fault):
    upstream.push(*FAULTS[fault])
    response = api.post("/api/chat", json={"message": "tell me something"})
    assert response.status_code == 503, response.text
    assert_friendly(response.json()["detail"], upstream)
    reply = assert_nothing_lost(api.user, upstream, partial=PARTIAL.get(fault, ""))
    upstream.reset()
    again = api.post("/api/chat", json={"message": "and now?", "sessionId": str(reply.session_id)})
    assert again.status_code == 200 and again.json()["message"] == "You said: and now?"


@pytest.mark.parametrize("fault", FAULTS)
def test_streamed_send_survives_upstream_fault(api, upstream, fault):
    upstream.push(*FAULTS[fault])
    response = api.post("/api/chat", json={"message": "tell me something", "stream": True})
    assert response.status_code == 200
    events = sse_events(response.text)
    assert events[0][0] == "session" and events[-1][0] == "error"
    assert_friendly(events[-1][1]["detail"], upstream)
    streamed = "".join(data["content"] for kind, data in events if kind == "delta")
    reply = assert_nothing_lost(api.user, upstream, partial=PARTIAL.get(fault, ""))
    assert events[-1][1]["messageId"] == str(reply.pk)
    assert streamed == reply.content
    upstream.reset()
    again = api.post(
        "/api/chat",
        json={"message": "and now?", "sessionId": str(reply.session_id), "stream": True},
    )
    assert sse_events(again.text)[-1][0] == "done"


def test_refused_connection_is_a_friendly_503(api, settings):
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    response = api.post("/api/chat", json={"message": "tell me something"})
    assert response.status_code == 503
    assert "127.0.0.1:9" not in response.text
    reply = Message.objects.get(session__user=api.user, role="assistant")
    assert reply.status == "failed"
    assert Message.objects.filter(session__user=api.user, role="user").count() == 1


def test_sdk_retries_transient_errors_before_giving_up(api, upstream, settings):
    settings.CHATBOT_LLM_MAX_RETRIES = 2
    upstream.push(Behaviour(status=503), Behaviour(status=502))
    response = api.post("/api/chat", json={"message": "tell me something"})
    assert response.status_code == 200
    assert response.json()["message"] == "You said: tell me something"
    assert len(upstream.reply_requests()) == 3
