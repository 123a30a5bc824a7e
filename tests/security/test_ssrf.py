"""No user input can make the server call another host: the model's base URL, key and
model name come only from settings. A second loopback server stands in for an attacker's
host and must never be called."""

from __future__ import annotations

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import Client

from accounts import services as account_services
from conversations.models import ChatSession
from loopback.upstream import FakeUpstream
from tests.factories import UserFactory, conversation
from tests.web.conftest import receive_until, settle

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def evil_server():
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def evil(evil_server):
    evil_server.reset()
    return evil_server


def hostile_fields(evil) -> dict:
    """Every way a client might try to point the server elsewhere."""
    return {
        "baseUrl": evil.base_url,
        "base_url": evil.base_url,
        "apiBase": evil.base_url,
        "OPENAI_BASE_URL": evil.base_url,
        "apiKey": "sk-attacker",
        "api_key": "sk-attacker",
        "url": evil.base_url + "/chat/completions",
        "webhook": evil.base_url,
        "provider": evil.base_url,
    }


def assert_only_the_configured_upstream_was_called(upstream, evil, replies: int) -> None:
    assert evil.requests == [], "the attacker's host was called"
    requests = upstream.reply_requests()
    assert len(requests) == replies
    for body in upstream.chat_requests():
        assert body["model"] == settings.CHATBOT_MODEL
    for request in upstream.requests:
        assert request["headers"]["authorization"] == f"Bearer {settings.OPENAI_API_KEY}"


@pytest.fixture
def api(user) -> Client:
    return Client(
        headers={"Authorization": f"Bearer {account_services.issue_token(user=user).token}"}
    )


def test_chat_request_cannot_choose_the_host_key_or_model(api, upstream, evil):
    response = api.post(
        "/api/chat", {"message": "hello", **hostile_fields(evil)}, content_type="application/json"
    )

    assert response.status_code == 200
    assert_only_the_configured_upstream_was_called(upstream, evil, replies=1)


@pytest.mark.parametrize("model", ["attacker-model", "http://attacker.example/v1", ""])
def test_a_model_outside_the_catalogue_is_refused_and_nothing_is_called(api, upstream, evil, model):
    response = api.post(
        "/api/chat",
        {"message": "hello", "model": model, **hostile_fields(evil)},
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response.json()["field"] == "model"
    assert evil.requests == [] and upstream.reply_requests() == []
    assert not ChatSession.objects.exists()


def test_streamed_chat_request_cannot_choose_the_host_key_or_model(live_app, user, upstream, evil):
    response = httpx.post(
        f"{live_app}/api/chat",
        json={"message": "hello", "stream": True, **hostile_fields(evil)},
        headers={"Authorization": f"Bearer {account_services.issue_token(user=user).token}"},
        timeout=20,
    )

    assert "event: done" in response.text
    assert_only_the_configured_upstream_was_called(upstream, evil, replies=1)


def test_regenerate_cannot_choose_the_host_key_or_model(api, user, upstream, evil):
    session = conversation(user, turns=1)

    response = api.post(
        f"/api/chat/sessions/{session.pk}/regenerate",
        hostile_fields(evil),
        content_type="application/json",
    )

    assert response.status_code == 200
    assert_only_the_configured_upstream_was_called(upstream, evil, replies=1)


@pytest.mark.parametrize("method", ["post", "patch"])
def test_renaming_cannot_point_the_conversation_at_another_host(api, user, evil, method):
    session = conversation(user, turns=1)

    response = getattr(api, method)(
        f"/api/chat/sessions/{session.pk}",
        {"title": "Renamed", **hostile_fields(evil)},
        content_type="application/json",
    )

    # An update takes only its own fields: a stray one is refused, naming it, and nothing
    # of the request is applied.
    assert response.status_code == 400
    assert response.json()["field"] in hostile_fields(evil)
    session.refresh_from_db()
    assert session.title != "Renamed"
    assert session.model == "" and session.instructions == ""
    assert evil.requests == []


def test_settings_form_cannot_set_a_model_or_base_url(user, upstream, evil):
    browser = Client()
    browser.force_login(user)

    browser.post("/settings/", {"custom_instructions": "Be brief.", **hostile_fields(evil)})
    api = Client(
        headers={"Authorization": f"Bearer {account_services.issue_token(user=user).token}"}
    )
    api.post("/api/chat", {"message": "hello"}, content_type="application/json")

    # The conversation records the catalogue's model (here the settings' one), nothing sent.
    assert ChatSession.objects.get(user=user).model == settings.CHATBOT_MODEL
    assert_only_the_configured_upstream_was_called(upstream, evil, replies=1)


async def test_websocket_messages_cannot_choose_the_host_key_or_model(upstream, evil, sockets):
    user = await sync_to_async(UserFactory)()
    socket = await sockets(user)

    await socket.send_json_to({"type": "send", "text": "hello", **hostile_fields(evil)})
    reply = (await receive_until(socket, "reply"))[-1]["message"]
    await settle(reply["messageId"])
    await socket.send_json_to(
        {"type": "regenerate", "sessionId": reply["sessionId"], **hostile_fields(evil)}
    )
    again = (await receive_until(socket, "reply"))[-1]["message"]
    await settle(again["messageId"])

    assert reply["status"] == again["status"] == "complete"
    await sync_to_async(assert_only_the_configured_upstream_was_called)(upstream, evil, replies=2)


def test_links_and_images_in_messages_are_never_fetched_by_the_server(api, upstream, evil):
    text = f"see ![x]({evil.base_url}/leak.png) and [y]({evil.base_url}/page) {evil.base_url}"

    response = api.post("/api/chat", {"message": text}, content_type="application/json")

    assert response.status_code == 200
    assert_only_the_configured_upstream_was_called(upstream, evil, replies=1)
