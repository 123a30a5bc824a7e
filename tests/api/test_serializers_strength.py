"""The API's input rules, exactly: every request field as the OpenAPI schema states it, and
the sentence of each refusal (issue 23: mutation testing of conversations/api/serializers.py
found these unasserted)."""

from __future__ import annotations

import pytest

from conversations.api.serializers import text_schema
from conversations.models import ChatSession, Message
from tests.factories import ChatSessionFactory, MessageFactory, conversation

pytestmark = pytest.mark.django_db

# Written out, not imported: a change to a rule must change this test too.
ALLOWED = r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
TEXT = rf"^{ALLOWED}*[^\s\x00-\x1f\x7f-\x9f]{ALLOWED}*$"
UUID = {"type": "string", "format": "uuid"}
STREAM = {"type": "boolean", "default": False}
MODEL = {"allOf": [{"$ref": "#/components/schemas/ModelEnum"}], "minLength": 1}


def without_descriptions(properties: dict) -> dict:
    return {
        name: {key: value for key, value in schema.items() if key != "description"}
        for name, schema in properties.items()
    }


@pytest.fixture
def openapi(anonymous) -> dict:
    response = anonymous.get("/api/schema/", headers={"Accept": "application/json"})
    assert response.status_code == 200
    return response.json()


def test_text_schema_is_visible_text_of_one_to_max_length_characters():
    # Called directly: the fields' schemas are made once, when the module is imported.
    assert text_schema(7) == {"type": "string", "minLength": 1, "maxLength": 7, "pattern": TEXT}
    assert text_schema(255)["maxLength"] == 255


def test_schema_states_each_chat_and_regenerate_field_exactly(openapi):
    schemas = openapi["components"]["schemas"]
    chat = schemas["ChatRequestRequest"]

    assert chat["type"] == "object" and chat["required"] == ["message"]
    assert without_descriptions(chat["properties"]) == {
        "stream": STREAM,
        "message": {"type": "string", "minLength": 1, "maxLength": 10_000, "pattern": TEXT},
        "sessionId": {**UUID, "nullable": True},
        "editMessageId": {**UUID, "nullable": True},
        "model": MODEL,
        "attachments": {"type": "array", "items": UUID, "maxItems": 10},
    }
    regenerate = schemas["RegenerateRequest"]
    assert "required" not in regenerate
    assert without_descriptions(regenerate["properties"]) == {
        "stream": STREAM,
        "messageId": {**UUID, "nullable": True},
    }


def test_schema_states_each_session_update_field_exactly(openapi):
    update = openapi["components"]["schemas"]["SessionUpdateRequest"]

    assert (update["minProperties"], update["additionalProperties"]) == (1, False)
    assert "required" not in update
    assert without_descriptions(update["properties"]) == {
        "title": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": TEXT},
        "currentMessageId": UUID,
        "model": MODEL,
        "instructions": {
            "oneOf": [
                {"type": "string", "maxLength": 4000, "pattern": f"^{ALLOWED}*$"},
                {"type": "string", "maxLength": 0},
            ]
        },
        "pinned": {"type": "boolean"},
        "archived": {"type": "boolean"},
    }
    session = openapi["paths"]["/api/chat/sessions/{session_id}"]
    for method in ("post", "patch"):
        body = session[method]["requestBody"]
        assert body["required"] is True
        assert body["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/SessionUpdateRequest"
        }


def test_schema_states_the_list_query_exactly(openapi):
    parameters = {
        parameter["name"]: parameter["schema"]
        for parameter in openapi["paths"]["/api/chat/sessions"]["get"]["parameters"]
    }

    assert parameters["q"] == {"type": "string", "maxLength": 200, "pattern": r"^[^\x00]*$"}
    assert parameters["archived"] == {"type": "boolean"}


# The chat view answers from another thread: it must see the token's row.
chat_db = pytest.mark.django_db(transaction=True)


def chat(api, body: dict):
    return api.post("/api/chat", body, "application/json")


@chat_db
@pytest.mark.parametrize(
    ("message", "detail"),
    [
        ("", "message: The message cannot be empty."),
        (" ", "message: The message cannot be empty."),
        (" \n\t\r ", "message: The message cannot be empty."),
        ("\u3000\xa0\u2003", "message: The message cannot be empty."),
        ("a\x00b", "message: Null characters are not allowed."),
        ("a\x7fb", "message: The message contains characters that are not allowed."),
        (5, "message: Must be a string."),
        (["hi"], "message: Must be a string."),
        (None, "message: This field may not be null."),
    ],
    ids=["empty", "space", "whitespace", "unicode spaces", "NUL", "DEL", "number", "list", "null"],
)
def test_a_refused_message_is_400_with_its_sentence_and_nothing_stored(api, message, detail):
    response = chat(api, {"message": message})

    assert response.status_code == 400
    assert response.json()["detail"] == detail
    assert response.json()["field"] == "message"
    assert not ChatSession.objects.exists() and not Message.objects.exists()


@chat_db
def test_a_message_with_inner_and_outer_whitespace_is_stored_as_sent(api, upstream):
    response = chat(api, {"message": "  two\n\tlines  "})

    assert response.status_code == 200
    assert Message.objects.get(role="user").content == "  two\n\tlines  "


@chat_db
def test_null_session_and_edit_ids_start_a_new_conversation(api, user, upstream):
    existing = conversation(user, turns=1)

    response = chat(api, {"message": "hi", "sessionId": None, "editMessageId": None})

    assert response.status_code == 200
    started = ChatSession.objects.exclude(pk=existing.pk).get()
    assert response.json()["sessionId"] == str(started.pk)
    assert list(started.messages.values_list("role", "content")) == [
        ("user", "hi"),
        ("assistant", response.json()["message"]),
    ]
    assert existing.messages.count() == 2


@chat_db
@pytest.mark.parametrize("value", [5, "nope", True, ["00000000-0000-4000-8000-000000000000"]])
@pytest.mark.parametrize("field", ["sessionId", "editMessageId"])
def test_an_id_that_is_not_a_uuid_string_is_400(api, field, value):
    response = chat(api, {"message": "hi", field: value})

    assert response.status_code == 400
    assert response.json()["detail"] == f"{field}: Must be a valid UUID."
    assert not Message.objects.exists()


@pytest.mark.parametrize("query", ["\x00", "a\x00b"], ids=["NUL", "inner NUL"])
def test_a_search_with_nul_is_400_with_its_sentence(api, user, query):
    # DRF's CharField refuses NUL itself.
    ChatSessionFactory(user=user, title="a b")

    response = api.get("/api/chat/sessions", {"q": query})

    assert response.status_code == 400
    assert response.json()["detail"] == "q: Null characters are not allowed."
    assert response.json()["errors"] == {"q": ["Null characters are not allowed."]}


def test_a_search_with_other_control_characters_is_a_search(api, user):
    found = ChatSessionFactory(user=user, title="tab\there")
    ChatSessionFactory(user=user, title="else")

    response = api.get("/api/chat/sessions", {"q": "tab\there"})

    assert response.status_code == 200
    assert [item["sessionId"] for item in response.json()] == [str(found.pk)]


@pytest.mark.parametrize("method", ["post", "patch"])
def test_stray_fields_are_400_naming_the_first_in_order(api, user, method):
    session = ChatSessionFactory(user=user, title="Kept")

    response = getattr(api, method)(
        f"/api/chat/sessions/{session.pk}",
        {"title": "New", "zeta": 1, "alpha": 2},
        "application/json",
    )

    assert response.status_code == 400
    assert response.json()["detail"] == "alpha: Not a field of this request."
    assert response.json()["errors"] == {"alpha": ["Not a field of this request."]}
    session.refresh_from_db()
    assert session.title == "Kept"


@pytest.mark.parametrize("method", ["post", "patch"])
def test_an_empty_update_is_400_listing_what_it_may_change(api, user, method):
    session = ChatSessionFactory(user=user, title="Kept")

    response = getattr(api, method)(f"/api/chat/sessions/{session.pk}", {}, "application/json")

    assert response.status_code == 400
    assert response.json() == {
        "detail": "title: A title, a currentMessageId, a model, instructions, pinned or "
        "archived is required.",
        "code": "invalid",
        "field": "title",
        "errors": {
            "title": [
                "A title, a currentMessageId, a model, instructions, pinned or archived is "
                "required."
            ]
        },
    }


@pytest.mark.parametrize(
    ("title", "detail"),
    [
        ("bad\x00title", "title: Null characters are not allowed."),
        ("bad\x1btitle", "title: The title contains characters that are not allowed."),
        (" \u3000 ", "title: The title cannot be empty."),
        (7, "title: Must be a string."),
    ],
    ids=["NUL", "ESC", "unicode spaces", "number"],
)
def test_a_refused_title_is_400_with_its_sentence(api, user, title, detail):
    session = ChatSessionFactory(user=user, title="Kept")

    response = api.patch(f"/api/chat/sessions/{session.pk}", {"title": title}, "application/json")

    assert response.status_code == 400
    assert response.json()["detail"] == detail
    session.refresh_from_db()
    assert session.title == "Kept"


def test_an_update_without_a_title_keeps_the_title(api, user):
    session = ChatSessionFactory(user=user, title="Kept")

    response = api.patch(f"/api/chat/sessions/{session.pk}", {"pinned": True}, "application/json")

    assert response.status_code == 200
    assert (response.json()["title"], response.json()["pinned"]) == ("Kept", True)


@pytest.mark.parametrize(
    ("query", "listed"),
    [({}, ["plain"]), ({"archived": "false"}, ["plain"]), ({"archived": "true"}, ["archived"])],
    ids=["absent", "false", "true"],
)
def test_the_archived_flag_picks_the_list(api, user, query, listed):
    ChatSessionFactory(user=user, title="plain")
    ChatSessionFactory(user=user, title="archived", archived=True)

    response = api.get("/api/chat/sessions", query)

    assert response.status_code == 200
    assert [item["title"] for item in response.json()] == listed


@pytest.mark.parametrize("value", ["TRUE", "False", "1", "0", "yes", "on", ""])
def test_the_archived_flag_takes_only_lowercase_true_or_false(api, user, value):
    response = api.get("/api/chat/sessions", {"archived": value})

    assert response.status_code == 400
    assert response.json()["detail"] == "archived: Must be true or false."


def test_a_search_snippet_marks_the_match_in_the_message_else_the_title(api, user):
    by_text = ChatSessionFactory(user=user, title="Plans")
    MessageFactory(session=by_text, content="pack the <b>needle</b> kit")
    by_title = ChatSessionFactory(user=user, title="The Needle")

    response = api.get("/api/chat/sessions", {"q": " needle "})

    snippets = {item["sessionId"]: item["snippet"] for item in response.json()}
    assert snippets == {
        str(by_text.pk): "pack the &lt;b&gt;<mark>needle</mark>&lt;/b&gt; kit",
        str(by_title.pk): "The <mark>Needle</mark>",
    }
    assert "snippet" not in api.get("/api/chat/sessions").json()[0]


def test_the_message_list_is_the_message_payload(api, user):
    session = conversation(user, turns=1)
    user_message, reply = session.messages.order_by("sequence")

    response = api.get(f"/api/chat/sessions/{session.pk}/messages")

    assert response.status_code == 200
    first, second = response.json()
    assert first["messageId"] == str(user_message.pk) and first["content"] == user_message.content
    assert (first["parentId"], first["siblingIds"]) == (None, [str(user_message.pk)])
    assert (second["parentId"], second["role"]) == (str(user_message.pk), "assistant")
    assert (second["content"], second["feedback"]) == (reply.content, None)


@pytest.mark.parametrize(
    ("query", "shown"),
    [({}, ["first", "edited"]), ({"all": "false"}, ["first", "edited"]), ({"all": "true"}, None)],
    ids=["absent", "false", "true"],
)
def test_the_all_flag_shows_the_branch_or_the_whole_tree(api, user, query, shown):
    session = ChatSessionFactory(user=user)
    first = MessageFactory(session=session, content="first")
    MessageFactory(session=session, content="original", parent=first, make_current=False)
    MessageFactory(session=session, content="edited", parent=first)

    response = api.get(f"/api/chat/sessions/{session.pk}/messages", query)

    assert response.status_code == 200
    contents = [message["content"] for message in response.json()]
    assert contents == (shown or ["first", "original", "edited"])


@pytest.mark.parametrize("value", ["maybe", "yes", "1", "True", ""])
def test_an_all_flag_other_than_true_or_false_is_400(api, user, value):
    # As strict as ?archived=: DRF's BooleanField would also take yes, 1, True, on.
    session = ChatSessionFactory(user=user)

    response = api.get(f"/api/chat/sessions/{session.pk}/messages", {"all": value})

    assert response.status_code == 400
    assert response.json()["detail"] == "all: Must be true or false."
