"""Limits of one conversation (issue 15): the tokens it may spend in all, and how often it
may be sent to; both refuse before anything is stored, over the API and the WebSocket, and
a malformed value stops the start naming its variable."""

from __future__ import annotations

import uuid

import pytest

from chatbot.env import parse_rate
from conversations.models import ChatSession, Message
from tests.api.conftest import bearer_client
from tests.factories import UserFactory, conversation
from tests.infra.test_settings import start

pytestmark = pytest.mark.django_db(transaction=True)

TOO_LONG = "This conversation has reached its length limit; start a new one."


@pytest.fixture(autouse=True)
def own_cache(settings):
    """Counts of its own: with Redis, an earlier run's counts for the same ids persist."""
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4()}"}
    }
    settings.CHATBOT_RATE_LIMIT = None


def send(client, message, **extra):
    return client.post(
        "/api/chat", {"message": message, "stream": False, **extra}, content_type="application/json"
    )


def spent(session: ChatSession, *, prompt: int, completion: int) -> ChatSession:
    """Make ``session``'s replies have spent ``prompt`` + ``completion`` tokens in all."""
    replies = Message.objects.filter(session=session, role="assistant")
    replies.update(prompt_tokens=0, completion_tokens=0)
    replies.filter(pk=replies.first().pk).update(prompt_tokens=prompt, completion_tokens=completion)
    return session


def test_a_conversation_at_its_token_limit_refuses_sends_with_409_and_stores_nothing(
    upstream, settings
):
    settings.CHATBOT_CONVERSATION_TOKEN_LIMIT = 100
    user = UserFactory()
    api = bearer_client(user)
    under = spent(conversation(user, turns=2), prompt=60, completion=39)
    full = spent(conversation(user, turns=2), prompt=60, completion=40)
    stored = Message.objects.count()

    refused = send(api, "one more", sessionId=str(full.pk))
    regenerated = api.post(
        f"/api/chat/sessions/{full.pk}/regenerate", {}, content_type="application/json"
    )

    assert (refused.status_code, refused.json()["detail"]) == (409, TOO_LONG)
    assert refused.json()["code"] == "conversation_limit"
    assert (regenerated.status_code, regenerated.json()["detail"]) == (409, TOO_LONG)
    assert Message.objects.count() == stored
    assert send(api, "still fits", sessionId=str(under.pk)).status_code == 200
    assert send(api, "a new one").status_code == 200


def test_without_a_token_limit_a_long_conversation_goes_on(upstream):
    user = UserFactory()
    session = spent(conversation(user, turns=1), prompt=10**6, completion=10**6)

    assert send(bearer_client(user), "more", sessionId=str(session.pk)).status_code == 200


def test_sends_to_one_conversation_are_limited_with_retry_after(upstream, settings):
    settings.CHATBOT_SESSION_RATE_LIMIT = parse_rate("2/hour")
    user = UserFactory()
    api = bearer_client(user)
    session_id = send(api, "first").json()["sessionId"]
    assert send(api, "second", sessionId=session_id).status_code == 200

    refused = send(api, "third", sessionId=session_id)

    assert refused.status_code == 429
    assert refused.json()["code"] == "conversation_rate_limited"
    assert refused.json()["detail"].startswith(
        "You are sending messages too quickly in this conversation. Try again in "
    )
    assert 1 <= int(refused["Retry-After"]) <= 3601
    assert Message.objects.filter(session_id=session_id).count() == 4
    # Another conversation of the same user has counts of its own.
    assert send(api, "elsewhere").status_code == 200


@pytest.mark.parametrize(
    ("name", "value"),
    [("CHATBOT_CONVERSATION_TOKEN_LIMIT", "-1"), ("CHATBOT_SESSION_RATE_LIMIT", "5/mn")],
)
def test_a_bad_limit_stops_the_start_naming_its_variable(name, value):
    started = start(**{name: value})

    assert started.returncode != 0
    last_line = started.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in last_line and name in last_line


def test_good_limits_start():
    started = start(CHATBOT_CONVERSATION_TOKEN_LIMIT="50000", CHATBOT_SESSION_RATE_LIMIT="10/min")

    assert started.returncode == 0, started.stderr
