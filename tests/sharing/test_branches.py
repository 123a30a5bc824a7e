"""Sharing, export and import of a conversation with branches (issues 14 and 19): the JSON
export holds every branch and the attachments' metadata and comes back whole through the
import; the Markdown export and a share link hold the current branch only."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from attachments.models import MessageAttachment, StoredFile
from conversations.models import ChatSession, Message
from sharing.models import SharedMessage
from tests.factories import MessageFactory, conversation

pytestmark = pytest.mark.django_db


@dataclass
class Tree:
    """q1 -> a1 -> q2 -> a2 (current), a1b a regenerated sibling of a1, and q1b an edited
    sibling of q1 hidden by a moderator, with its answer a1c."""

    session: ChatSession
    messages: dict[str, Message]

    def shape(self, session: ChatSession) -> set[tuple]:
        """(role, content, parent's content) of every message: the tree whatever the ids."""
        rows = {m.pk: m for m in session.messages.all()}
        return {
            (m.role, m.content, rows[m.parent_id].content if m.parent_id else None)
            for m in rows.values()
        }


@pytest.fixture
def tree(user) -> Tree:
    session = conversation(user, turns=0, title="Branches")
    q1 = MessageFactory(session=session, role="user", content="Which café? ☕")
    a1 = MessageFactory(session=session, role="assistant", content="```sh\nls -la\n```")
    a1b = MessageFactory(
        session=session, role="assistant", content="regenerated", parent=q1, make_current=False
    )
    q1b = MessageFactory(
        session=session,
        role="user",
        content="SECRET edit",
        parent=None,
        hidden=True,
        make_current=False,
    )
    a1c = MessageFactory(
        session=session, role="assistant", content="to the edit", parent=q1b, make_current=False
    )
    q2 = MessageFactory(session=session, role="user", content="And the report?", parent=a1)
    a2 = MessageFactory(session=session, role="assistant", content="It says yes.")
    report = StoredFile.objects.create(
        owner=user,
        name="report.pdf",
        size=1234,
        content_type="application/pdf",
        kind=StoredFile.Kind.DOCUMENT,
        sha256="0" * 64,
        key="test/report.pdf",
    )
    MessageAttachment.objects.create(message=q2, file=report, position=0)
    session.refresh_from_db()
    messages = {"q1": q1, "a1": a1, "a1b": a1b, "q1b": q1b, "a1c": a1c, "q2": q2, "a2": a2}
    return Tree(session=session, messages=messages)


def test_json_export_holds_every_branch_its_current_leaf_and_attachments(api, tree, bystanders):
    response = api.get(f"/api/chat/sessions/{tree.session.pk}/export?format=json")

    assert response.status_code == 200
    body = response.json()
    ids = {str(m.pk): name for name, m in tree.messages.items()}
    assert [
        (ids[m["messageId"]], m["parentId"] and ids[m["parentId"]]) for m in body["messages"]
    ] == [
        ("q1", None),
        ("a1", "q1"),
        ("a1b", "q1"),
        ("q1b", None),
        ("a1c", "q1b"),
        ("q2", "a1"),
        ("a2", "q2"),
    ]
    assert ids[body["currentMessageId"]] == "a2"
    by_name = {ids[m["messageId"]]: m for m in body["messages"]}
    assert by_name["q1b"]["content"] == "" and by_name["q1b"]["hidden"] is True
    assert "SECRET" not in response.content.decode()
    (attachment,) = by_name["q2"]["attachments"]
    assert attachment == {
        "fileId": attachment["fileId"],
        "name": "report.pdf",
        "contentType": "application/pdf",
        "kind": "document",
        "size": 1234,
    }
    assert all(m["attachments"] == [] for name, m in by_name.items() if name != "q2")
    assert bystanders.unchanged()


def test_json_export_reads_attachments_in_a_fixed_number_of_queries(
    api, tree, django_assert_num_queries
):
    url = f"/api/chat/sessions/{tree.session.pk}/export?format=json"
    # token and user, session, messages, links, files
    with django_assert_num_queries(5):
        assert api.get(url).status_code == 200
    for n in range(10):
        MessageFactory(session=tree.session, role="user", content=f"more {n}")
    with django_assert_num_queries(5):
        assert len(api.get(url).json()["messages"]) == 17


def test_own_json_export_imports_back_with_every_branch(api, user, tree):
    exported = api.get(f"/api/chat/sessions/{tree.session.pk}/export?format=json").content
    upload = SimpleUploadedFile("chat.json", exported, content_type="application/json")

    response = api.post("/api/chat/import", {"file": upload})

    assert response.json() == {"imported": 1, "skipped": 0, "errors": []}
    copy = ChatSession.objects.exclude(pk=tree.session.pk).get(user=user)
    # The hidden edit is left out; its answer follows its nearest kept ancestor (none).
    expected = tree.shape(tree.session) - {("user", "SECRET edit", None)}
    expected = (expected - {("assistant", "to the edit", "SECRET edit")}) | {
        ("assistant", "to the edit", None)
    }
    assert tree.shape(copy) == expected
    assert copy.current_message.content == "It says yes."
    assert copy.title == "Branches"
    assert set(copy.messages.filter(role="assistant").values_list("model", flat=True)) == {
        "imported"
    }


def test_a_duplicate_own_export_import_adds_nothing(api, user, tree):
    exported = api.get(f"/api/chat/sessions/{tree.session.pk}/export?format=json").content
    for expected in (1, 0):
        upload = SimpleUploadedFile("chat.json", exported, content_type="application/json")
        assert api.post("/api/chat/import", {"file": upload}).json()["imported"] == expected
    assert ChatSession.objects.filter(user=user).count() == 2


def test_markdown_export_is_the_current_branch_with_attachments_named(api, tree):
    response = api.get(f"/api/chat/sessions/{tree.session.pk}/export?format=md")

    text = response.content.decode()
    assert text.endswith(
        "## You\n\nWhich café? ☕\n\n"
        "## Assistant\n\n```sh\nls -la\n```\n\n"
        "## You\n\nAnd the report?\n\n*Attached: report.pdf*\n\n"
        "## Assistant\n\nIt says yes.\n"
    )
    assert "regenerated" not in text and "to the edit" not in text


def test_share_snapshot_is_the_current_branch(api, other_api, tree):
    assert api.post(f"/api/chat/sessions/{tree.session.pk}/share").status_code == 200

    snapshot = SharedMessage.objects.filter(share__session=tree.session).order_by("position")
    assert [m.content for m in snapshot] == [
        "Which café? ☕",
        "```sh\nls -la\n```",
        "And the report?",
        "It says yes.",
    ]
    assert other_api.get(f"/api/chat/sessions/{tree.session.pk}/export").status_code == 404


def test_import_of_an_export_without_parent_ids_is_one_branch(api, user):
    item = {
        "sessionId": "old-format",
        "title": "Old",
        "messages": [
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "two"},
            {"role": "user", "content": "three"},
        ],
    }
    upload = SimpleUploadedFile("chat.json", json.dumps(item).encode())

    assert api.post("/api/chat/import", {"file": upload}).json()["imported"] == 1

    session = ChatSession.objects.get(user=user)
    chain = [m.content for m in session.messages.order_by("sequence")]
    assert chain == ["one", "two", "three"]
    assert session.current_message.content == "three"
    assert session.current_message.parent.parent.content == "one"


def test_a_hidden_messages_files_leave_no_trace_in_either_export(api, tree, user):
    secret = StoredFile.objects.create(
        owner=user,
        name="SECRET-plan.pdf",
        size=99,
        content_type="application/pdf",
        kind=StoredFile.Kind.DOCUMENT,
        sha256="1" * 64,
        key="test/secret.pdf",
    )
    MessageAttachment.objects.create(message=tree.messages["q1b"], file=secret, position=0)

    as_json = api.get(f"/api/chat/sessions/{tree.session.pk}/export?format=json")
    tree.session.current_message = tree.messages["a1c"]
    tree.session.save(update_fields=["current_message"])
    as_markdown = api.get(f"/api/chat/sessions/{tree.session.pk}/export?format=md")

    assert as_json.status_code == as_markdown.status_code == 200
    hidden = next(
        m for m in as_json.json()["messages"] if m["messageId"] == str(tree.messages["q1b"].pk)
    )
    assert hidden["attachments"] == []
    assert "SECRET" not in as_json.content.decode()
    assert "SECRET" not in as_markdown.content.decode()
    assert "to the edit" in as_markdown.content.decode()
