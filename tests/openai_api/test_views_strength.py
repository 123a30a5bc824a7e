"""The /v1 views through one in-process request each (no server): the answer's status, body
and ``X-Chat-Session-Id`` exactly; a streaming client's ``Accept`` answered, never 406; a
body past Django's own limit but within the route's read; the model checked before the rest
of the request; every refusal in OpenAI's shape; another user's conversation a 404 that
names no conversation, with nothing of it changed and nothing sent to the model."""

from __future__ import annotations

import base64
import copy
import json
import uuid

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from attachments.models import StoredFile
from catalogue.models import Model, Provider
from conversations.models import ChatSession, Message
from tests.api.conftest import bearer_client
from tests.attachments.samples import image_bytes
from tests.factories import conversation

pytestmark = pytest.mark.django_db(transaction=True)

PATH = "/v1/chat/completions"
HEADER = "X-Chat-Session-Id"
HELLO = [{"role": "user", "content": "Hello"}]
EVENTS = {"Accept": "text/event-stream"}


def post(client, body, **headers):
    data = body if isinstance(body, bytes) else json.dumps(body)
    return client.post(PATH, data, content_type="application/json", headers=headers)


def complete(client, messages=HELLO, model="fast", **fields):
    return post(client, {"model": model, "messages": messages, **fields})


def error(message, *, param=None, code=None, type="invalid_request_error") -> dict:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def rows(session_id) -> list[tuple]:
    return list(
        Message.objects.filter(session_id=session_id)
        .order_by("sequence")
        .values_list("role", "content", "status")
    )


@pytest.fixture(autouse=True)
def catalogue(upstream, user, settings, tmp_path):
    """On the loopback upstream: ``fast`` (the default), ``seer`` (takes images) and
    ``team`` (for the Team group, which ``user`` is in); files in this test's own folder."""
    provider = Provider.objects.create(name="loopback", base_url=upstream.base_url)
    Model.objects.create(
        id="fast", label="Fast", provider=provider, upstream_name="fast-v1", is_default=True
    )
    Model.objects.create(
        id="seer", label="Seer", provider=provider, upstream_name="seer-v1", vision=True
    )
    team = Model.objects.create(id="team", label="Team", provider=provider, upstream_name="team-v1")
    team.groups.add(Group.objects.create(name="Team"))
    user.groups.add(team.groups.get())
    storages = copy.deepcopy(settings.STORAGES)
    storages["attachments"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": tmp_path / "attachments"},
    }
    settings.STORAGES = storages


@pytest.fixture
def api(user) -> Client:
    return bearer_client(user)


@pytest.fixture
def theirs(other_user):
    """Another user's conversation, with its rows as they are before the test."""
    session = conversation(other_user, turns=1, title="Private")
    return session, rows(session.pk)


# --- Answers ------------------------------------------------------------------------------


def test_a_completion_starts_a_conversation_named_in_the_answer(api, user, upstream, theirs):
    response = complete(api)

    assert response.status_code == 200
    session = ChatSession.objects.get(user=user)
    assert response[HEADER] == str(session.pk)
    reply = Message.objects.get(session=session, role="assistant")
    body = response.json()
    assert body == {
        "id": f"chatcmpl-{reply.pk.hex}",
        "object": "chat.completion",
        "created": int(reply.created_at.timestamp()),
        "model": "fast",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "You said: Hello", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": body["usage"],
    }
    assert rows(session.pk) == [
        ("user", "Hello", "complete"),
        ("assistant", "You said: Hello", "complete"),
    ]
    assert rows(theirs[0].pk) == theirs[1]


def test_a_completion_continues_the_callers_conversation(api, user, upstream, theirs):
    mine = conversation(user, turns=1)

    # The request's earlier messages are not trusted: the stored history is the context.
    earlier = [{"role": "user", "content": "not stored"}, {"role": "assistant", "content": "no"}]
    response = post(
        api,
        {"model": "fast", "messages": [*earlier, *HELLO]},
        **{HEADER: str(mine.pk)},
    )

    assert response.status_code == 200
    assert response[HEADER] == str(mine.pk)
    assert response.json()["choices"][0]["message"]["content"] == "You said: Hello"
    assert rows(mine.pk) == [
        ("user", "question 0", "complete"),
        ("assistant", "answer 0", "complete"),
        ("user", "Hello", "complete"),
        ("assistant", "You said: Hello", "complete"),
    ]
    assert ChatSession.objects.filter(user=user).count() == 1
    assert rows(theirs[0].pk) == theirs[1]


def test_a_streaming_client_gets_its_event_stream(api, user, upstream, settings):
    # The in-process channel layer on both runs of the suite: through the sync test client
    # the view waited forever on Redis's. The stream over Redis is tested served by uvicorn,
    # with the openai SDK (tests/openai_api/test_clients.py).
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "chatbot.forks.layers.FastGroupSendLayer",
            "CONFIG": {"capacity": 1000},
        }
    }
    response = post(api, {"model": "fast", "messages": HELLO, "stream": True}, **EVENTS)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    session = ChatSession.objects.get(user=user)
    assert response[HEADER] == str(session.pk)
    assert rows(session.pk)[0] == ("user", "Hello", "complete")


def test_a_client_that_accepts_only_events_gets_json_not_406(api, user, upstream):
    answered = post(api, {"model": "fast", "messages": HELLO}, **EVENTS)
    refused = post(api, {"model": "fast", "messages": HELLO, "n": 2}, **EVENTS)

    assert (answered.status_code, answered["Content-Type"]) == (200, "application/json")
    assert answered.json()["object"] == "chat.completion"
    assert (refused.status_code, refused["Content-Type"]) == (400, "application/json")
    assert refused.json() == error(
        "The parameter 'n' is not supported by this server.",
        param="n",
        code="unsupported_parameter",
    )


def test_a_body_past_djangos_limit_within_the_routes_is_read(api, user, upstream, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 200
    text = "x" * 300

    response = complete(api, [{"role": "user", "content": text}])

    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == f"You said: {text}"


def test_the_models_are_the_users_own(api, other_user):
    def listed(client) -> list:
        response = client.get("/v1/models")
        assert response.status_code == 200
        assert not response.has_header(HEADER)
        return response.json()

    def model(name) -> dict:
        return {"id": name, "object": "model", "created": 0, "owned_by": "loopback"}

    assert listed(api) == {"object": "list", "data": [model("fast"), model("seer"), model("team")]}
    assert listed(bearer_client(other_user)) == {
        "object": "list",
        "data": [model("fast"), model("seer")],
    }


def test_a_client_that_asks_for_indented_json_gets_it(api):
    response = api.get("/v1/models", headers={"Accept": "application/json; indent=2"})

    model = {"id": "fast", "object": "model", "created": 0, "owned_by": "loopback"}
    assert response.status_code == 200
    assert response.content.decode().startswith('{\n  "object": "list",\n  "data": [\n')
    assert response.json()["data"][0] == model


def test_a_model_of_the_users_group_answers_and_another_users_is_unknown(
    api, user, other_user, upstream
):
    answered = complete(api, model="team")
    refused = complete(bearer_client(other_user), model="team")

    assert answered.status_code == 200
    assert answered.json()["model"] == "team"
    assert ChatSession.objects.get(user=user).model == "team"
    assert [sent["model"] for sent in upstream.reply_requests()] == ["team-v1"]
    assert refused.status_code == 404
    assert refused.json() == error(
        "The model 'team' does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )
    assert not ChatSession.objects.filter(user=other_user).exists()


def image_message(data: bytes) -> list:
    url = f"data:image/png;base64,{base64.b64encode(data).decode()}"
    parts = [{"type": "text", "text": "Look"}, {"type": "image_url", "image_url": {"url": url}}]
    return [{"role": "user", "content": parts}]


def test_an_image_is_stored_for_a_model_that_takes_images_and_refused_for_another(
    api, user, upstream
):
    png = image_bytes("PNG")

    refused = complete(api, image_message(png), model="fast")
    answered = complete(api, image_message(png), model="seer")

    assert refused.status_code == 400
    assert refused.json() == error(
        "The model 'fast' does not accept images ('messages[0].content[1].image_url.url'): "
        "remove the image parts or choose a model that accepts images.",
        param="messages",
        code="images_not_supported",
    )
    assert not refused.has_header(HEADER)
    assert answered.status_code == 200
    session = ChatSession.objects.get(user=user)
    assert answered[HEADER] == str(session.pk)
    question = Message.objects.get(session=session, role="user")
    assert question.content == "Look"
    (stored,) = StoredFile.objects.filter(owner=user)
    assert [link.file for link in question.attachment_links.all()] == [stored]
    assert [sent["model"] for sent in upstream.reply_requests()] == ["seer-v1"]


# --- Refusals -----------------------------------------------------------------------------


def test_no_key_is_a_401_in_openais_shape(upstream):
    response = post(Client(), {"model": "fast", "messages": HELLO})

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json() == error(
        "Invalid or missing API key: send your personal API token as "
        "'Authorization: Bearer <token>'.",
        code="invalid_api_key",
    )
    assert not ChatSession.objects.exists()


def test_the_route_takes_only_post(api, upstream):
    response = api.get(PATH)

    assert response.status_code == 405
    assert response.json() == error('Method "GET" not allowed.', code="method_not_allowed")
    assert not response.has_header(HEADER)


def test_the_model_is_checked_first(api, user, upstream):
    unknown = post(api, {"model": "nope", "messages": "not a list", "n": 2})
    missing = post(api, {"messages": HELLO})
    no_object = post(api, b"[1]")

    assert unknown.status_code == 404
    assert unknown.json() == error(
        "The model 'nope' does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )
    assert missing.status_code == 400
    assert missing.json() == error(
        "You must provide a model parameter.", param="model", code="missing_required_parameter"
    )
    assert no_object.status_code == 400
    assert no_object.json() == error("The request body must be a JSON object.")
    assert not ChatSession.objects.exists()
    assert upstream.reply_requests() == []


def test_a_bad_request_after_the_model_is_refused_naming_it(api, user, upstream):
    response = complete(api, [{"role": "assistant", "content": "Hi"}])

    assert response.status_code == 400
    assert response.json() == error(
        "The last message must be the user's message to answer.", param="messages[0].role"
    )
    assert not response.has_header(HEADER)
    assert not ChatSession.objects.exists()


def test_another_users_conversation_is_a_404_naming_none(api, user, upstream, theirs):
    session, before = theirs

    stranger = post(api, {"model": "fast", "messages": HELLO}, **{HEADER: str(session.pk)})
    missing = post(api, {"model": "fast", "messages": HELLO}, **{HEADER: str(uuid.uuid4())})

    for response in (stranger, missing):
        assert response.status_code == 404
        assert response.json() == error(
            "Conversation not found.", param=HEADER, code="session_not_found"
        )
        assert not response.has_header(HEADER)
    assert rows(session.pk) == before
    assert not ChatSession.objects.filter(user=user).exists()
    assert upstream.reply_requests() == []


def test_a_refusal_in_the_callers_conversation_names_it(api, user, upstream):
    mine = conversation(user, turns=1)
    user.chat_suspended = True
    user.save()

    response = post(api, {"model": "fast", "messages": HELLO}, **{HEADER: str(mine.pk)})

    assert response.status_code == 403
    assert response.json() == error(
        "Your chat access is suspended. You can still read your conversations.",
        type="permission_error",
        code="suspended",
    )
    assert response[HEADER] == str(mine.pk)
    assert rows(mine.pk) == [
        ("user", "question 0", "complete"),
        ("assistant", "answer 0", "complete"),
    ]
    assert upstream.reply_requests() == []


def test_a_refused_new_conversation_names_none_and_leaves_none(api, user, upstream):
    user.chat_suspended = True
    user.save()

    response = complete(api)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "suspended"
    assert not response.has_header(HEADER)
    assert not ChatSession.objects.exists()
