"""Errors never leak internals: with the model upstream failing, no response (API JSON,
SSE error event, WebSocket error, page) and no log record at INFO or above carries the
API key, the base URL, the upstream's error text or a traceback; error pages show none."""

from __future__ import annotations

import logging

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from accounts import services as account_services
from conversations.models import Message
from loopback.upstream import Behaviour
from tests.factories import UserFactory
from tests.web.conftest import receive_until, settle

pytestmark = pytest.mark.django_db(transaction=True)

UPSTREAM_TEXT = "upstream secret failure"
KEY = "sk-test-secret-key"

# Each way of failing, queued for every attempt the SDK makes (it retries once in tests).
FAILURES = {
    "500": [Behaviour(status=500)] * 4,
    "503": [Behaviour(status=503)] * 4,
    "429": [Behaviour(status=429, retry_after="0")] * 4,
    "401 (bad key)": [Behaviour(status=401)] * 4,
    "400 (rejected)": [Behaviour(status=400)] * 4,
    "dropped mid-stream": [Behaviour(content="alpha beta gamma", drop_after=1)] * 4,
    "malformed mid-stream": [Behaviour(content="alpha beta gamma", malformed_after=1)] * 4,
}


def secrets(upstream) -> list[str]:
    host = upstream.base_url.removeprefix("http://").split("/")[0]
    return [KEY, upstream.base_url, host, UPSTREAM_TEXT, "Traceback", 'File "/']


def assert_clean(text: str, upstream, where: str) -> None:
    for secret in secrets(upstream):
        assert secret not in text, f"{secret!r} leaked in {where}"


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.INFO)
    return caplog


@pytest.fixture
def failing(upstream, settings, request):
    settings.CHATBOT_LLM_TIMEOUT = 2
    upstream.push(*FAILURES[request.param])
    return upstream


def logged_text(caplog) -> str:
    """Every captured record as an operator would read it, exceptions included."""
    return "\n".join(
        caplog.handler.format(record) for record in caplog.records if record.levelno >= logging.INFO
    )


@pytest.mark.parametrize("failing", FAILURES, indirect=True)
def test_json_answer_page_and_logs_keep_the_upstream_failure_private(live_app, failing, logs):
    user = UserFactory()
    token = account_services.issue_token(user=user).token

    response = httpx.post(
        f"{live_app}/api/chat",
        json={"message": "hello"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    browser = Client()
    browser.force_login(user)
    reply = Message.objects.get(session__user=user, role="assistant")
    page = browser.get(f"/c/{reply.session_id}/").content.decode()
    history = Client(headers={"Authorization": f"Bearer {token}"}).get(
        f"/api/chat/sessions/{reply.session_id}/messages"
    )

    assert response.status_code == 503 and response.json()["detail"]
    assert reply.status == "failed"
    assert_clean(response.text, failing, "the JSON answer")
    assert_clean(str(dict(response.headers)), failing, "the response headers")
    assert_clean(page, failing, "the chat page")
    assert_clean(history.content.decode(), failing, "the message history")
    assert_clean(logged_text(logs), failing, "the logs")
    assert any(r.name == "conversations.llm" for r in logs.records), "the failure is logged"


@pytest.mark.parametrize("failing", FAILURES, indirect=True)
def test_sse_error_event_keeps_the_upstream_failure_private(live_app, failing, logs):
    token = account_services.issue_token(user=UserFactory()).token

    response = httpx.post(
        f"{live_app}/api/chat",
        json={"message": "hello", "stream": True},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )

    assert "event: error" in response.text
    assert_clean(response.text, failing, "the event stream")
    assert_clean(logged_text(logs), failing, "the logs")


@pytest.mark.parametrize("failing", ["500", "401 (bad key)", "dropped mid-stream"], indirect=True)
async def test_websocket_error_keeps_the_upstream_failure_private(failing, sockets, logs):
    user = await sync_to_async(UserFactory)()
    socket = await sockets(user)
    await socket.send_json_to({"type": "send", "text": "hello"})

    events = await receive_until(socket, "reply", frame_timeout=30)
    await settle(events[-1]["message"]["messageId"])

    assert events[-1]["message"]["status"] == "failed" and events[-1]["message"]["error"]
    assert_clean(repr(events), failing, "the WebSocket events")
    assert_clean(logged_text(logs), failing, "the logs")


def test_not_found_page_shows_nothing_internal(client, settings):
    assert settings.DEBUG is False

    response = client.get("/no/such/page/")

    assert response.status_code == 404
    text = response.content.decode()
    assert "Traceback" not in text and "URLconf" not in text and "chatbot.urls" not in text


def test_server_error_page_shows_nothing_internal(settings, db):
    settings.ROOT_URLCONF = "tests.security.urls"
    client = Client(raise_request_exception=False)

    response = client.get("/broken/")

    assert response.status_code == 500
    text = response.content.decode()
    for secret in ("Traceback", "RuntimeError", "internal detail", KEY, "settings.py"):
        assert secret not in text
