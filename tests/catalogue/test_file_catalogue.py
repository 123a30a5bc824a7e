"""A catalogue declared in CHATBOT_MODELS_FILE, end to end through the API: two loopback
upstreams as two providers, each receiving its model's upstream name, the key of the
variable the file names, and a prompt within its model's window; a group's model for its
members only; the fallback answers for a provider that is down, and the reply records it."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from catalogue.file import load_models_file
from conversations.context import MESSAGE_OVERHEAD_TOKENS, REPLY_PRIMING_TOKENS, count_tokens
from conversations.models import Message
from loopback.upstream import free_port
from tests.api.conftest import bearer_client
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

FILE = """
[[providers]]
name = "alpha"
base_url = "{alpha}"
api_key_env = "FILE_ALPHA_KEY"

[[providers]]
name = "beta"
base_url = "{beta}"
api_key_env = "FILE_BETA_KEY"

[[providers]]
name = "nowhere"
base_url = "http://127.0.0.1:{closed}/v1"

[[models]]
id = "small"
label = "Small (local)"
provider = "alpha"
upstream = "alpha/small-v2"
context_tokens = 600
default = true

[[models]]
id = "big"
label = "Big"
provider = "beta"
context_tokens = 32000
vision = true

[[models]]
id = "down"
label = "Down"
provider = "nowhere"
fallback = "big"

[[models]]
id = "research"
provider = "beta"
upstream = "beta/research"
groups = ["Research"]
"""


@pytest.fixture
def file_catalogue(db, settings, tmp_path, monkeypatch, upstream, second_upstream):
    monkeypatch.setenv("FILE_ALPHA_KEY", "sk-file-alpha")
    monkeypatch.setenv("FILE_BETA_KEY", "sk-file-beta")
    settings.CHATBOT_LLM_MAX_RETRIES = 0
    settings.CHATBOT_MAX_REPLY_TOKENS = 1000
    path = tmp_path / "models.toml"
    path.write_text(
        FILE.format(alpha=upstream.base_url, beta=second_upstream.base_url, closed=free_port())
    )
    settings.CHATBOT_MODELS_FILE = str(path)
    settings.CHATBOT_MODELS = load_models_file(
        str(path),
        default_context_tokens=settings.CHATBOT_CONTEXT_TOKENS,
        max_reply_tokens=settings.CHATBOT_MAX_REPLY_TOKENS,
    )
    return path


def send(client, **body):
    response = client.post("/api/chat", body, content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def prompt_tokens(messages: list[dict]) -> int:
    return REPLY_PRIMING_TOKENS + sum(
        count_tokens(m["content"]) + MESSAGE_OVERHEAD_TOKENS for m in messages
    )


def test_each_provider_receives_its_models_name_key_and_window(
    file_catalogue, user, upstream, second_upstream
):
    client = bearer_client(user)
    text = "word " * 60
    small_id = send(client, message=text)["sessionId"]
    for _ in range(5):
        send(client, message=text, sessionId=small_id)
    big_id = send(client, message=text, model="big")["sessionId"]
    for _ in range(5):
        send(client, message=text, sessionId=big_id)

    alpha, beta = upstream.reply_requests(), second_upstream.reply_requests()
    assert len(alpha) == len(beta) == 6
    # The file's upstream name, or the id; each provider's key from its own variable.
    assert {body["model"] for body in alpha} == {"alpha/small-v2"}
    assert {body["model"] for body in beta} == {"big"}
    assert {r["headers"]["authorization"] for r in upstream.requests} == {"Bearer sk-file-alpha"}
    assert {r["headers"]["authorization"] for r in second_upstream.requests} == {
        "Bearer sk-file-beta"
    }
    # The window: 600 tokens, half kept for the reply, so the prompt holds 300 and the
    # oldest turns were left out; the big window sends the whole conversation.
    assert {body["max_tokens"] for body in alpha} == {300}
    assert {body["max_tokens"] for body in beta} == {1000}
    assert all(prompt_tokens(body["messages"]) <= 300 for body in alpha)
    assert len(alpha[-1]["messages"]) < len(beta[-1]["messages"]) == 1 + 2 * 5 + 1


def test_a_files_group_model_is_for_its_members_only(file_catalogue, user, second_upstream):
    member = UserFactory()
    member.groups.add(Group.objects.create(name="Research"))
    listed = bearer_client(user).get("/api/models").json()
    assert [m["id"] for m in listed] == ["small", "big", "down"]
    refused = bearer_client(user).post(
        "/api/chat", {"message": "hi", "model": "research"}, content_type="application/json"
    )
    assert refused.status_code == 400 and refused.json()["field"] == "model"
    assert second_upstream.requests == []

    send(bearer_client(member), message="hi", model="research")

    assert [b["model"] for b in second_upstream.reply_requests()] == ["beta/research"]
    assert "research" in [m["id"] for m in bearer_client(member).get("/api/models").json()]


def test_the_files_fallback_answers_and_the_reply_records_it(
    file_catalogue, user, upstream, second_upstream
):
    client = bearer_client(user)
    answer = send(client, message="hello", model="down")

    assert answer["message"] == "You said: hello"
    assert Message.objects.get(pk=answer["messageId"]).model == "big"
    assert [b["model"] for b in second_upstream.reply_requests()] == ["big"]
    assert upstream.requests == []
    session = client.get(f"/api/chat/sessions/{answer['sessionId']}").json()
    assert session["model"] == "down"  # the conversation keeps its choice
