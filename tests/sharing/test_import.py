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
RUST = 'Sure:\n\n```rust\nfn main() {\n    println!("héllo 🦀");\n}\n```\n'


def chatgpt_conversation(conversation_id: str, title: str = "Ünïcode 🚀 chat") -> dict:
    """A ChatGPT conversation with branches, as ChatGPT exports it: the user edited their
    first question (u1, then u2), the answer to the edit was regenerated (a2, then a2b), and
    the conversation went on from a2 through a tool call (left out) to a3, the current node.
    A system message at the top and a hidden message are left out too."""

    def node(node_id, parent, role, text, children, t, **metadata):
        message = {
            "id": node_id,
            "author": {"role": role},
            "create_time": t,
            "content": {"content_type": "text", "parts": [text]},
            "metadata": {"model_slug": "gpt-4o"} if role == "assistant" else metadata,
        }
        return {"id": node_id, "message": message, "parent": parent, "children": children}

    return {
        "id": conversation_id,
        "conversation_id": conversation_id,
        "title": title,
        "create_time": 1700000000.5,
        "update_time": 1700000100.0,
        "current_node": "a3",
        "mapping": {
            "root": {"id": "root", "message": None, "parent": None, "children": ["s"]},
            "s": node("s", "root", "system", "You are ChatGPT", ["u1", "u2"], 1700000000.0),
            "u1": node("u1", "s", "user", "first wording", ["a1"], 1700000001.0),
            "a1": node("a1", "u1", "assistant", "old branch answer", [], 1700000002.0),
            "u2": node("u2", "s", "user", "Привет, show code", ["a2", "a2b"], 1700000003.0),
            "a2": node("a2", "u2", "assistant", CODE, ["t"], 1700000004.0),
            "a2b": node("a2b", "u2", "assistant", "regenerated 🚀", [], 1700000005.0),
            "t": node("t", "a2", "tool", "tool output", ["h", "u3"], 1700000006.0),
            "h": node(
                "h",
                "t",
                "user",
                "hidden context",
                [],
                1700000006.5,
                is_visually_hidden_from_conversation=True,
            ),
            "u3": node("u3", "t", "user", "And in Rust? 🦀", ["a3"], 1700000007.0),
            "a3": node("a3", "u3", "assistant", RUST, [], 1700000008.0),
        },
    }


# What chatgpt_conversation() keeps: (key, parent key, role, content).
CHATGPT_TREE = [
    ("u1", None, "user", "first wording"),
    ("a1", "u1", "assistant", "old branch answer"),
    ("u2", None, "user", "Привет, show code"),
    ("a2", "u2", "assistant", CODE),
    ("a2b", "u2", "assistant", "regenerated 🚀"),
    ("u3", "a2", "user", "And in Rust? 🦀"),
    ("a3", "u3", "assistant", None),
]


def upload(data: bytes, name: str = "conversations.json") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/json")


def post_import(api, data: bytes, name: str = "conversations.json"):
    return api.post("/api/chat/import", {"file": upload(data, name)})


def test_chatgpt_export_imports_every_branch_with_its_current_node(api, user, bystanders):
    data = json.dumps([chatgpt_conversation("c-1"), chatgpt_conversation("c-2", "Two")]).encode()

    response = post_import(api, data)

    assert response.status_code == 200
    assert response.json() == {"imported": 2, "skipped": 0, "errors": []}
    session = ChatSession.objects.get(user=user, title="Ünïcode 🚀 chat")
    assert session.created_at.timestamp() == 1700000000.5
    assert session.updated_at.timestamp() == 1700000100.0
    messages = list(session.messages.order_by("sequence"))
    key_of = {m.pk: key for m, (key, *_) in zip(messages, CHATGPT_TREE, strict=True)}
    assert [(key_of[m.pk], key_of.get(m.parent_id), m.role, m.content) for m in messages] == [
        (key, parent, role, content or RUST) for key, parent, role, content in CHATGPT_TREE
    ]
    assert [m.model for m in messages if m.role == "assistant"] == ["imported:gpt-4o"] * 4
    assert {m.role: m.model for m in messages}["user"] == ""
    assert [m.created_at.timestamp() for m in messages] == [
        1700000001.0, 1700000002.0, 1700000003.0, 1700000004.0, 1700000005.0,
        1700000007.0, 1700000008.0,
    ]  # fmt: skip
    assert key_of[session.current_message_id] == "a3"
    # The API shows the current branch, and the others on demand, as for any conversation.
    branch = api.get(f"/api/chat/sessions/{session.pk}/messages").json()
    assert [m["content"] for m in branch] == ["Привет, show code", CODE, "And in Rust? 🦀", RUST]
    assert len(branch[0]["siblingIds"]) == 2 and len(branch[1]["siblingIds"]) == 2
    every = api.get(f"/api/chat/sessions/{session.pk}/messages?all=true").json()
    assert len(every) == len(CHATGPT_TREE)
    assert bystanders.unchanged()


def test_chatgpt_current_node_left_out_falls_back_to_its_kept_ancestor(api, user):
    item = chatgpt_conversation("c-1")
    item["current_node"] = "h"  # hidden: its nearest kept ancestor is a2
    other = chatgpt_conversation("c-2", "Two")
    other["current_node"] = "nowhere"  # unknown: the newest message, a leaf

    assert post_import(api, json.dumps([item, other]).encode()).json()["imported"] == 2

    first = ChatSession.objects.get(user=user, title="Ünïcode 🚀 chat")
    assert first.current_message.content == CODE
    second = ChatSession.objects.get(user=user, title="Two")
    assert second.current_message.content == RUST


def test_chatgpt_cycle_in_the_mapping_is_left_out_not_looped(api, user):
    item = chatgpt_conversation("c-1")
    item["mapping"]["u1"]["parent"] = "a1"  # u1 and a1 each other's parent

    assert post_import(api, json.dumps([item]).encode()).json()["imported"] == 1

    session = ChatSession.objects.get(user=user)
    assert "first wording" not in session.messages.values_list("content", flat=True)
    assert session.messages.count() == len(CHATGPT_TREE) - 2


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
    assert Message.objects.filter(session__user=user).count() == len(CHATGPT_TREE)


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
    export = GeneratedExport(size)
    count = sum(1 for _ in JsonStream(export, max_item_chars=1 << 20).array_items())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert count >= size // (len(export.item) + 1)  # every conversation of the file read
    assert peak < 5 * 1024 * 1024
