"""Import: ChatGPT's export and our own, streaming, all or nothing, once per conversation."""

from __future__ import annotations

import io
import json
import tracemalloc
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.services import export_user_data
from conversations.models import ChatSession, Message
from sharing.jsonstream import JsonStream
from tests.factories import conversation

pytestmark = pytest.mark.django_db

CODE = "```python\nprint('héllo')\n```"


def chatgpt_conversation(conversation_id: str, title: str = "Ünïcode 🚀 chat") -> dict:
    """A ChatGPT conversation with a branch: the user edited their question; the current
    node is on the edited branch."""

    def node(node_id, parent, role, text, children, t):
        message = {
            "id": node_id,
            "author": {"role": role},
            "create_time": t,
            "content": {"content_type": "text", "parts": [text]},
            "metadata": {"model_slug": "gpt-4o"} if role == "assistant" else {},
        }
        return {"id": node_id, "message": message, "parent": parent, "children": children}

    return {
        "id": conversation_id,
        "conversation_id": conversation_id,
        "title": title,
        "create_time": 1700000000.5,
        "update_time": 1700000100.0,
        "current_node": "a2",
        "mapping": {
            "root": {"id": "root", "message": None, "parent": None, "children": ["s"]},
            "s": node("s", "root", "system", "You are ChatGPT", ["u1", "u2"], 1700000000.0),
            "u1": node("u1", "s", "user", "first wording", ["a1"], 1700000001.0),
            "a1": node("a1", "u1", "assistant", "old branch answer", [], 1700000002.0),
            "u2": node("u2", "s", "user", "Привет, show code", ["a2"], 1700000003.0),
            "a2": node("a2", "u2", "assistant", CODE, [], 1700000004.0),
        },
    }


def upload(data: bytes, name: str = "conversations.json") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/json")


def post_import(api, data: bytes, name: str = "conversations.json"):
    return api.post("/api/chat/import", {"file": upload(data, name)})


def test_chatgpt_export_imports_the_current_branch(api, user, bystanders):
    data = json.dumps([chatgpt_conversation("c-1"), chatgpt_conversation("c-2", "Two")]).encode()

    response = post_import(api, data)

    assert response.status_code == 200
    assert response.json() == {"imported": 2, "skipped": 0, "errors": []}
    session = ChatSession.objects.get(user=user, title="Ünïcode 🚀 chat")
    assert session.created_at.timestamp() == 1700000000.5
    assert session.updated_at.timestamp() == 1700000100.0
    rows = list(session.messages.order_by("sequence").values_list("role", "content", "model"))
    assert rows == [("user", "Привет, show code", ""), ("assistant", CODE, "imported:gpt-4o")]
    assert bystanders.unchanged()


def test_importing_the_same_file_twice_adds_nothing(api, user):
    data = json.dumps([chatgpt_conversation("c-1")]).encode()
    post_import(api, data)

    again = post_import(api, data)

    assert again.json() == {"imported": 0, "skipped": 1, "errors": []}
    assert ChatSession.objects.filter(user=user).count() == 1


def test_another_user_importing_the_same_file_gets_their_own_copy(api, other_api, user):
    data = json.dumps([chatgpt_conversation("c-1")]).encode()
    post_import(api, data)

    assert post_import(other_api, data).json()["imported"] == 1
    assert ChatSession.objects.filter(user=user).count() == 1


def test_zip_of_the_export_is_read(api, user):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("export/conversations.json", json.dumps([chatgpt_conversation("z")]))

    response = post_import(api, buffer.getvalue(), "export.zip")

    assert response.json()["imported"] == 1


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b'[{"id": "c-1", "mapping": {}}, {"id": "c-2", "mapp', "cut short"),
        (b"not json at all", "Expected a JSON array or object"),
        (b"\xff\xfe[]", "not UTF-8"),
        (b'[{"mapping": {}}] trailing', "Unexpected text"),
        (b"[" * 100000, "nested too deeply"),
        (b"PK\x03\x04broken", "zip file cannot be read"),
    ],
)
def test_a_bad_file_answers_400_saying_what_and_where_and_imports_nothing(api, user, data, problem):
    response = post_import(api, data)

    assert response.status_code == 400
    assert problem in response.json()["detail"]
    assert ChatSession.objects.filter(user=user).count() == 0


def test_a_truncated_file_imports_nothing_even_after_good_conversations(api, user):
    data = json.dumps([chatgpt_conversation("c-1"), chatgpt_conversation("c-2")]).encode()

    response = post_import(api, data[:-40])

    assert response.status_code == 400
    assert "at character" in response.json()["detail"]
    assert ChatSession.objects.count() == 0 and Message.objects.count() == 0


def test_invalid_conversations_are_skipped_whole_and_reported(api, user):
    control = chatgpt_conversation("bad-1")
    control["mapping"]["u2"]["message"]["content"]["parts"] = ["bell \x07"]
    too_long = chatgpt_conversation("bad-2")
    too_long["mapping"]["a2"]["message"]["content"]["parts"] = ["x" * 100_001]
    data = json.dumps([control, chatgpt_conversation("ok"), too_long, 5]).encode()

    body = post_import(api, data).json()

    assert body["imported"] == 1 and body["skipped"] == 3
    assert [error["index"] for error in body["errors"]] == [0, 2, 3]
    assert "control characters" in body["errors"][0]["detail"]
    assert "longer than 100000" in body["errors"][1]["detail"]
    assert Message.objects.filter(session__user=user).count() == 2


def test_own_export_round_trips_without_hidden_text(api, user):
    session = conversation(user, turns=1, title="Mine")
    session.messages.filter(role="user").update(hidden=True, content="HIDDEN TEXT")
    exported = api.get(f"/api/chat/sessions/{session.pk}/export?format=json").content

    response = post_import(api, exported, "chat.json")

    assert response.json() == {"imported": 1, "skipped": 0, "errors": []}
    copy = ChatSession.objects.exclude(pk=session.pk).get(user=user)
    assert list(copy.messages.values_list("role", "content")) == [("assistant", "answer 0")]
    assert post_import(api, exported, "chat.json").json()["imported"] == 0


def test_account_export_is_imported(api, user):
    conversation(user, turns=1, title="From the account export")
    data = json.dumps(export_user_data(user)).encode()
    ChatSession.objects.filter(user=user).delete()

    response = post_import(api, data)

    assert response.json()["imported"] == 1
    assert ChatSession.objects.get(user=user).title == "From the account export"


def test_import_without_a_file_or_as_json_is_a_clear_4xx(api):
    assert api.post("/api/chat/import", {}).status_code == 400
    response = api.post("/api/chat/import", "[]", content_type="application/json")
    assert response.status_code == 415 and response.json()["detail"]


class GeneratedExport(io.RawIOBase):
    """A ChatGPT export of ``size`` bytes, made as it is read (never whole in memory)."""

    def __init__(self, size: int) -> None:
        item = json.dumps(chatgpt_conversation("x", "filler " * 20)).encode()
        self.item, self.left, self.started = item, size, False
        self.pending = b"["

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while len(self.pending) < size and self.left > 0:
            piece = (b"," if self.started else b"") + self.item
            self.started = True
            self.pending += piece
            self.left -= len(piece)
        if self.left <= 0 and not self.pending.endswith(b"]"):
            self.pending += b"]"
            self.left = -1
        data, self.pending = self.pending[:size], self.pending[size:]
        return data


@pytest.mark.django_db(False)
def test_a_200_mb_export_is_parsed_in_constant_memory():
    size = 200 * 1024 * 1024
    tracemalloc.start()
    count = sum(1 for _ in JsonStream(GeneratedExport(size), max_item_chars=1 << 20).array_items())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert count > size // 2000
    assert peak < 5 * 1024 * 1024
