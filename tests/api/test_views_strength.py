"""Each view of the conversation API once, answered exactly (issue 23): the send and its
options (a session, an edit, a model, a file, an idempotency key), the list with its search
and archive, a conversation, its updates, its deletion, its messages and a regenerate;
JSON errors for a client that asks for events, and 406 where no event can come; another
user's conversation a 404 on every route, with nothing of it shown or changed."""

from __future__ import annotations

import copy
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from attachments.services import upload_file
from catalogue.models import Model, Provider
from conversations.models import ChatSession, Message
from tests.factories import conversation

pytestmark = pytest.mark.django_db(transaction=True)

NOT_FOUND = {"detail": "Conversation not found.", "code": "not_found"}
NOT_ACCEPTABLE = {
    "detail": "Could not satisfy the request Accept header.",
    "code": "not_acceptable",
}
EVENTS = {"Accept": "text/event-stream"}


def post(client, path, body, **headers):
    return client.post(path, body, content_type="application/json", headers=headers)


def send(client, message, **extra):
    return post(client, "/api/chat", {"message": message, **extra})


def stamp(moment) -> str:
    """A time as DRF writes it: UTC as ``Z``."""
    return moment.isoformat().replace("+00:00", "Z")


def session_body(session_id, **expected) -> dict:
    """The stored conversation as the API shows it, after checking ``expected`` fields."""
    session = ChatSession.objects.get(pk=session_id)
    body = {
        "sessionId": str(session.pk),
        "title": session.title,
        "currentMessageId": str(session.current_message_id) if session.current_message_id else None,
        "model": session.model,
        "instructions": session.instructions,
        "pinned": session.pinned,
        "archived": session.archived,
        "createdAt": stamp(session.created_at),
        "updatedAt": stamp(session.updated_at),
    }
    assert {key: body[key] for key in expected} == expected
    return body


def rows(session_id) -> list[tuple]:
    return list(
        Message.objects.filter(session_id=session_id)
        .order_by("sequence")
        .values_list("role", "content", "status")
    )


def reply_to(response) -> dict:
    """What a send or regenerate answered, and the stored reply it names."""
    body = response.json()
    reply = Message.objects.get(pk=body["messageId"])
    assert (str(reply.session_id), reply.role) == (body["sessionId"], "assistant")
    return body


# --- Sending --------------------------------------------------------------------------


def test_a_send_starts_a_conversation_and_answers_with_the_reply(api, user, upstream, bystanders):
    response = send(api, "Hello")

    assert response.status_code == 200
    body = reply_to(response)
    assert body == {
        "message": "You said: Hello",
        "sessionId": body["sessionId"],
        "messageId": body["messageId"],
        "status": "complete",
    }
    assert ChatSession.objects.get(pk=body["sessionId"]).user == user
    assert rows(body["sessionId"]) == [
        ("user", "Hello", "complete"),
        ("assistant", "You said: Hello", "complete"),
    ]
    assert bystanders.unchanged()


def test_a_send_continues_its_conversation_once_per_idempotency_key(api, user, upstream):
    first = send(api, "one").json()
    key = {"Idempotency-Key": "turn-2"}

    second = post(api, "/api/chat", {"message": "two", "sessionId": first["sessionId"]}, **key)
    replay = post(api, "/api/chat", {"message": "two", "sessionId": first["sessionId"]}, **key)

    assert second.status_code == replay.status_code == 200
    assert second.json()["sessionId"] == first["sessionId"]
    assert replay.json() == second.json()
    assert replay["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in second
    assert ChatSession.objects.filter(user=user).count() == 1
    assert rows(first["sessionId"]) == [
        ("user", "one", "complete"),
        ("assistant", "You said: one", "complete"),
        ("user", "two", "complete"),
        ("assistant", "You said: two", "complete"),
    ]
    assert len(upstream.reply_requests()) == 2


def test_an_edit_resends_as_a_sibling_of_the_message_edited(api, upstream):
    first = send(api, "q1").json()
    q1 = Message.objects.get(session_id=first["sessionId"], content="q1")

    edit = send(api, "q1 edited", sessionId=first["sessionId"], editMessageId=str(q1.pk))

    assert edit.status_code == 200
    assert reply_to(edit)["message"] == "You said: q1 edited"
    edited = Message.objects.get(session_id=first["sessionId"], content="q1 edited")
    assert (edited.parent_id, q1.parent_id) == (None, None)
    assert [m["content"] for m in upstream.reply_requests()[-1]["messages"][1:]] == ["q1 edited"]


@pytest.fixture
def catalogue(upstream):
    """Two models on the loopback upstream: ``fast`` (the default) and ``other``."""
    provider = Provider.objects.create(name="loopback", base_url=upstream.base_url)
    Model.objects.create(
        id="fast", label="Fast", provider=provider, upstream_name="fast-v1", is_default=True
    )
    Model.objects.create(id="other", label="Other", provider=provider, upstream_name="other-v1")


def test_a_send_with_a_model_starts_its_conversation_on_it(api, upstream, catalogue):
    body = send(api, "Hello", model="other").json()

    assert ChatSession.objects.get(pk=body["sessionId"]).model == "other"
    assert upstream.reply_requests()[-1]["model"] == "other-v1"


@pytest.fixture
def file_storage(settings, tmp_path):
    storages = copy.deepcopy(settings.STORAGES)
    storages["attachments"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": tmp_path / "attachments"},
    }
    settings.STORAGES = storages


def test_a_send_with_a_file_gives_it_to_the_model(api, user, upstream, file_storage):
    note = upload_file(user=user, upload=SimpleUploadedFile("q3.csv", b"Revenue: 12"))

    response = send(api, "Summarize", attachments=[str(note.pk)])

    assert response.status_code == 200
    assert upstream.reply_requests()[-1]["messages"][1:] == [
        {"role": "user", "content": 'Summarize\n\n<file name="q3.csv">\nRevenue: 12\n</file>'}
    ]


def test_a_refused_send_is_400_naming_the_field_and_stores_nothing(api, user, upstream):
    response = send(api, "   ")

    assert response.status_code == 400
    assert response.json() == {
        "detail": "message: The message cannot be empty.",
        "code": "invalid",
        "field": "message",
        "errors": {"message": ["The message cannot be empty."]},
    }
    assert not ChatSession.objects.exists()
    assert upstream.reply_requests() == []


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_the_send_route_takes_only_post(api, upstream, method):
    response = getattr(api, method)("/api/chat")

    assert response.status_code == 405
    assert response.json() == {
        "detail": f'Method "{method.upper()}" not allowed.',
        "code": "method_not_allowed",
    }
    assert not ChatSession.objects.exists()


def test_a_send_refused_before_its_stream_is_json_to_an_event_stream_client(api, upstream):
    response = post(api, "/api/chat", {"message": "", "stream": True}, **EVENTS)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["field"] == "message"


def test_a_streamed_send_is_an_event_stream(api, upstream):
    response = post(api, "/api/chat", {"message": "Hi", "stream": True}, **EVENTS)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    session = ChatSession.objects.get()
    assert rows(session.pk)[0] == ("user", "Hi", "complete")


# --- Reading and changing conversations -------------------------------------------------


@pytest.fixture
def shelf(user, other_user):
    """The user's pinned, plain and archived conversations; another user's, titled alike."""
    pinned = conversation(user, turns=1, title="Pinned plans", pinned=True)
    plain = conversation(user, turns=1, title="Plain plans")
    archived = conversation(user, turns=1, title="Archived plans", archived=True)
    theirs = conversation(other_user, turns=1, title="Their plans", pinned=True)
    return pinned, plain, archived, theirs


def test_the_list_is_pinned_then_plain_without_the_archived_or_anyone_elses(api, shelf):
    pinned, plain, _, _ = shelf

    response = api.get("/api/chat/sessions")

    assert response.status_code == 200
    assert response.json() == [session_body(pinned.pk), session_body(plain.pk)]
    assert "Link" not in response


def test_the_archived_list_is_only_the_archived(api, shelf):
    _, _, archived, _ = shelf

    response = api.get("/api/chat/sessions?archived=true")

    assert response.json() == [session_body(archived.pk, archived=True)]


def test_a_search_finds_archived_ones_too_each_with_its_snippet(api, shelf):
    pinned, plain, archived, _ = shelf

    response = api.get("/api/chat/sessions?q=plans")

    assert response.status_code == 200
    assert response.json() == [
        {**session_body(pinned.pk), "snippet": "Pinned <mark>plans</mark>"},
        {**session_body(archived.pk), "snippet": "Archived <mark>plans</mark>"},
        {**session_body(plain.pk), "snippet": "Plain <mark>plans</mark>"},
    ]


def test_a_blank_search_is_the_plain_list_without_snippets(api, shelf):
    pinned, plain, _, _ = shelf

    response = api.get("/api/chat/sessions?q=%20%20")

    assert response.json() == [session_body(pinned.pk), session_body(plain.pk)]


def test_a_bad_list_query_is_400_naming_the_parameter(api, shelf):
    response = api.get("/api/chat/sessions?archived=maybe")

    assert response.status_code == 400
    body = response.json()
    assert (body["field"], body["code"]) == ("archived", "invalid")
    assert body["detail"].startswith("archived: ")


def test_a_conversation_reads_exactly(api, shelf):
    pinned, *_ = shelf

    response = api.get(f"/api/chat/sessions/{pinned.pk}")

    assert response.status_code == 200
    assert response.json() == session_body(
        pinned.pk, title="Pinned plans", pinned=True, archived=False, model="", instructions=""
    )


@pytest.mark.parametrize("method", ["post", "patch"])
def test_an_update_renames_pins_and_archives_at_once(api, user, method):
    session = conversation(user, turns=1, title="Old")

    response = getattr(api, method)(
        f"/api/chat/sessions/{session.pk}",
        {"title": "New", "pinned": True, "archived": True},
        "application/json",
    )

    assert response.status_code == 200
    assert response.json() == session_body(session.pk, title="New", pinned=True, archived=True)


def test_an_update_sets_model_and_instructions(api, user, catalogue):
    session = conversation(user, turns=1, title="Kept")

    response = api.patch(
        f"/api/chat/sessions/{session.pk}",
        {"model": "other", "instructions": "Be brief."},
        "application/json",
    )

    assert response.status_code == 200
    assert response.json() == session_body(
        session.pk, title="Kept", model="other", instructions="Be brief."
    )


def test_a_refused_model_leaves_the_rest_of_the_update_undone(api, user, catalogue):
    session = conversation(user, turns=1, title="Kept")

    response = api.patch(
        f"/api/chat/sessions/{session.pk}",
        {"model": "missing", "title": "New", "pinned": True},
        "application/json",
    )

    assert response.status_code == 400
    assert response.json()["field"] == "model"
    assert session_body(session.pk, title="Kept", pinned=False, model="")


def test_an_empty_update_is_400(api, user):
    session = conversation(user, turns=1, title="Kept")

    response = api.post(f"/api/chat/sessions/{session.pk}", {}, "application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert session_body(session.pk, title="Kept")


def test_a_delete_removes_the_conversation_and_nothing_else(api, user, shelf):
    _, plain, _, _ = shelf
    before = Message.objects.exclude(session=plain).count()

    response = api.delete(f"/api/chat/sessions/{plain.pk}")

    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert not ChatSession.objects.filter(pk=plain.pk).exists()
    assert ChatSession.objects.count() == 3
    assert Message.objects.count() == before


def message_body(message_id, **expected) -> dict:
    message = Message.objects.get(pk=message_id)
    siblings = Message.objects.filter(session=message.session, parent=message.parent)
    body = {
        "messageId": str(message.pk),
        "sessionId": str(message.session_id),
        "parentId": str(message.parent_id) if message.parent_id else None,
        "siblingIds": [
            str(pk) for pk in siblings.order_by("sequence").values_list("pk", flat=True)
        ],
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "hidden": False,
        "createdAt": message.created_at.isoformat(),
        "attachments": [],
        "feedback": None,
    }
    assert {key: body[key] for key in expected} == expected
    return body


@pytest.fixture
def tree(user, other_user):
    """q0 -> a0 -> q1 -> a1, then a1 answered again (a2, the current leaf)."""
    session = conversation(user, turns=2)
    conversation(other_user, turns=2)
    q1 = session.messages.get(content="question 1")
    a1 = session.messages.get(content="answer 1")
    a2 = Message.objects.create(
        session=session,
        role="assistant",
        content="answer 1 again",
        status="complete",
        parent=q1,
        sequence=5,
    )
    ChatSession.objects.filter(pk=session.pk).update(current_message=a2)
    return session, a1, a2


def test_the_messages_are_the_current_branch_oldest_first(api, tree):
    session, a1, a2 = tree
    ids = list(session.messages.order_by("sequence").values_list("pk", flat=True))

    response = api.get(f"/api/chat/sessions/{session.pk}/messages")

    assert response.status_code == 200
    assert response.json() == [
        message_body(ids[0], content="question 0", parentId=None),
        message_body(ids[1], content="answer 0"),
        message_body(ids[2], content="question 1"),
        message_body(a2.pk, siblingIds=[str(a1.pk), str(a2.pk)]),
    ]
    assert "Link" not in response


def test_every_message_of_the_tree_in_creation_order(api, tree):
    session, *_ = tree
    ids = list(session.messages.order_by("sequence").values_list("pk", flat=True))

    response = api.get(f"/api/chat/sessions/{session.pk}/messages?all=true")

    assert response.status_code == 200
    assert response.json() == [message_body(pk) for pk in ids]
    assert [m["content"] for m in response.json()] == [
        "question 0",
        "answer 0",
        "question 1",
        "answer 1",
        "answer 1 again",
    ]


def test_an_update_switches_the_branch_to_the_newest_leaf_under_a_message(api, tree):
    session, a1, a2 = tree

    back = api.patch(
        f"/api/chat/sessions/{session.pk}", {"currentMessageId": str(a1.pk)}, "application/json"
    )
    question = a1.parent_id
    forth = api.post(
        f"/api/chat/sessions/{session.pk}", {"currentMessageId": str(question)}, "application/json"
    )

    assert back.status_code == forth.status_code == 200
    assert back.json()["currentMessageId"] == str(a1.pk)
    assert forth.json() == session_body(session.pk, currentMessageId=str(a2.pk))


def test_a_bad_messages_query_is_400_naming_the_parameter(api, tree):
    session, *_ = tree

    response = api.get(f"/api/chat/sessions/{session.pk}/messages?all=maybe")

    assert response.status_code == 400
    assert (response.json()["field"], response.json()["code"]) == ("all", "invalid")


def test_a_regenerate_answers_again_keeping_the_old_reply(api, user, upstream):
    first = send(api, "Hello").json()

    response = post(api, f"/api/chat/sessions/{first['sessionId']}/regenerate", {})

    assert response.status_code == 200
    body = reply_to(response)
    assert body == {
        "message": "You said: Hello",
        "sessionId": first["sessionId"],
        "messageId": body["messageId"],
        "status": "complete",
    }
    assert body["messageId"] != first["messageId"]
    assert rows(first["sessionId"]) == [
        ("user", "Hello", "complete"),
        ("assistant", "You said: Hello", "complete"),
        ("assistant", "You said: Hello", "complete"),
    ]
    assert session_body(first["sessionId"], currentMessageId=body["messageId"])


def test_a_regenerate_of_a_given_reply_and_as_a_stream(api, upstream):
    first = send(api, "Hello").json()
    path = f"/api/chat/sessions/{first['sessionId']}/regenerate"

    response = post(api, path, {"messageId": first["messageId"], "stream": True}, **EVENTS)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    assert Message.objects.filter(session_id=first["sessionId"]).count() == 3


def test_a_regenerate_refused_is_json_to_an_event_stream_client(api, user, upstream):
    session = conversation(user, turns=0)

    nothing = post(api, f"/api/chat/sessions/{session.pk}/regenerate", {"stream": True}, **EVENTS)
    missing = post(api, f"/api/chat/sessions/{uuid.uuid4()}/regenerate", {}, **EVENTS)
    bad = post(api, f"/api/chat/sessions/{session.pk}/regenerate", {"stream": 5}, **EVENTS)

    assert (nothing.status_code, nothing.json()) == (
        409,
        {
            "detail": "This conversation has no message to answer again.",
            "code": "nothing_to_regenerate",
        },
    )
    assert (missing.status_code, missing.json()) == (404, NOT_FOUND)
    assert (bad.status_code, bad.json()["field"]) == (400, "stream")
    assert upstream.reply_requests() == []


@pytest.mark.parametrize(
    "path", ["/api/chat/sessions", "/api/chat/sessions/{id}", "/api/chat/sessions/{id}/messages"]
)
def test_a_read_asked_for_as_events_is_406(api, user, path):
    session = conversation(user, turns=1)

    response = api.get(path.format(id=session.pk), headers=EVENTS)

    assert response.status_code == 406
    assert response.json() == NOT_ACCEPTABLE


# --- Another user's conversation --------------------------------------------------------

ROUTES = [
    ("get", "/api/chat/sessions/{id}", None),
    ("post", "/api/chat/sessions/{id}", {"title": "Taken"}),
    ("patch", "/api/chat/sessions/{id}", {"pinned": True}),
    ("delete", "/api/chat/sessions/{id}", None),
    ("get", "/api/chat/sessions/{id}/messages", None),
    ("get", "/api/chat/sessions/{id}/messages?all=true", None),
    ("post", "/api/chat/sessions/{id}/regenerate", {}),
    ("post", "/api/chat", {"message": "Hijack", "sessionId": "{id}"}),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_another_users_conversation_is_404_on_every_route(
    api, other_api, user, upstream, method, path, body
):
    theirs = conversation(user, turns=1, title="Private")
    before = session_body(theirs.pk), rows(theirs.pk)

    def call(session_id):
        url = path.format(id=session_id)
        if body is None:
            return getattr(other_api, method)(url)
        data = {
            key: value.format(id=session_id) if isinstance(value, str) else value
            for key, value in body.items()
        }
        return getattr(other_api, method)(url, data, "application/json")

    stranger, missing = call(theirs.pk), call(uuid.uuid4())

    assert (stranger.status_code, stranger.json()) == (404, NOT_FOUND)
    assert (missing.status_code, missing.json()) == (404, NOT_FOUND)
    assert (session_body(theirs.pk), rows(theirs.pk)) == before
    assert upstream.reply_requests() == []
    assert ChatSession.objects.count() == 1


# --- The schema ---------------------------------------------------------------------------


def test_the_schema_takes_a_whole_required_update_body_by_post_and_by_patch(anonymous):
    schema = anonymous.get("/api/schema/", headers={"Accept": "application/json"}).json()
    operations = schema["paths"]["/api/chat/sessions/{session_id}"]
    update = {
        "required": True,
        "content": {
            kind: {"schema": {"$ref": "#/components/schemas/SessionUpdateRequest"}}
            for kind in ("application/json",)
        },
    }

    for method in ("post", "patch"):
        assert operations[method]["requestBody"] == update
    assert "PatchedSessionUpdateRequest" not in schema["components"]["schemas"]
    regenerate = schema["paths"]["/api/chat/sessions/{session_id}/regenerate"]["post"]
    assert "required" not in regenerate["requestBody"]
    assert [code for code in operations["patch"]["responses"]] == [
        "200",
        "400",
        "401",
        "403",
        "404",
        "413",
    ]
