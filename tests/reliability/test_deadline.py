"""An upstream that hangs is given up at CHATBOT_LLM_DEADLINE, across the SDK's timeout and
retries: the client gets the friendly error and the reply ends failed with its text.

The SDK's own timeout is 60 s per attempt, with retries, and the client waits at most 30 s:
that the requests end at all shows the deadline (2 s) held; no timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys

from conversations.models import Message
from loopback.upstream import Behaviour

DETAIL = "The assistant took too long to answer. Please try again."


def hang_after_two_pieces(upstream, settings) -> None:
    settings.CHATBOT_LLM_DEADLINE = 2
    settings.CHATBOT_LLM_TIMEOUT = 60
    settings.CHATBOT_LLM_MAX_RETRIES = 2
    upstream.push(Behaviour(tokens=5, stall_after=2))


def test_a_hanging_upstream_ends_at_the_deadline_as_json(api, upstream, settings):
    hang_after_two_pieces(upstream, settings)

    response = api.post("/api/chat", json={"message": "are you there?"})

    assert response.status_code == 503
    assert response.json()["detail"] == DETAIL
    reply = Message.objects.get(pk=response.json()["messageId"])
    assert reply.status == Message.Status.FAILED
    assert reply.content == "tok0 tok1 "


def test_a_hanging_upstream_ends_at_the_deadline_as_an_sse_error(
    api, upstream, settings, monkeypatch
):
    settings.CHATBOT_LLM_DEADLINE = 2
    settings.CHATBOT_LLM_TIMEOUT = 60
    # No keep-alive comments: the client's 30 s read timeout is then what a stream that
    # outlived the deadline would run into. (The app's URLs are loaded first, the import
    # order the server itself uses.)
    assert api.get("/api/chat/sessions").status_code == 200
    monkeypatch.setattr("conversations.api.streaming.KEEPALIVE_SECONDS", 120)
    upstream.push(Behaviour(tokens=5, stall_after=0))

    events = []
    with api.stream("POST", "/api/chat", json={"message": "hello?", "stream": True}) as stream:
        assert stream.status_code == 200
        name = None
        for line in stream.iter_lines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                events.append((name, json.loads(line[5:])))

    assert [name for name, _ in events] == ["session", "error"]
    error = events[-1][1]
    assert error["detail"] == DETAIL
    reply = Message.objects.get(pk=error["messageId"])
    assert reply.status == Message.Status.FAILED and reply.content == ""


def test_a_deadline_that_is_not_positive_stops_the_start():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={
            "DJANGO_SETTINGS_MODULE": "chatbot.settings",
            "DJANGO_DEBUG": "1",
            "CHATBOT_LLM_DEADLINE": "0",
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "CHATBOT_LLM_DEADLINE" in result.stderr
