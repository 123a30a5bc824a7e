"""sharing/exports.py called directly on what the export view reads
(``selectors.session_for_export``): the JSON export's every field exactly, and the Markdown
export as a whole text (a title or none, the creation time, a heading per turn, a system
message skipped without ending the rest, hidden text and files never shown, a message's own
spaces and Markdown kept, the files named in order), with the user's other conversation and
a second user's present and never in it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from attachments.models import MessageAttachment, StoredFile
from conversations.models import ChatSession, Message
from sharing import exports, selectors
from tests.factories import MessageFactory, conversation

pytestmark = pytest.mark.django_db

CREATED = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
UPDATED = datetime(2024, 6, 7, 8, 9, 10, tzinfo=UTC)


def stored_file(user, name: str) -> StoredFile:
    return StoredFile.objects.create(
        owner=user,
        name=name,
        size=len(name),
        content_type="text/plain",
        kind=StoredFile.Kind.DOCUMENT,
        sha256="3" * 64,
        key=f"test/{name}",
    )


def attach(message: Message, *files: StoredFile) -> None:
    for position, file in enumerate(files):
        MessageAttachment.objects.create(message=message, file=file, position=position)


def export(user, session, *, every_branch: bool):
    return selectors.session_for_export(user=user, session_id=session.pk, every_branch=every_branch)


@pytest.fixture
def talk(user, bystanders):
    """The user's conversation: a question with two files, a system message, an answer with
    its own spaces and Markdown, a hidden question with a secret file, a last answer; an
    edited first question off the current branch. The user's other conversation and a
    second user's (``bystanders``) are in the database."""
    session = conversation(user, turns=0, title="Plans", model="model-a")
    ChatSession.objects.filter(pk=session.pk).update(created_at=CREATED, updated_at=UPDATED)
    question = MessageFactory(session=session, role="user", content="\n\nWhat now?\n")
    attach(question, stored_file(user, "first.txt"), stored_file(user, "second.pdf"))
    MessageFactory(session=session, role="system", content="system words")
    MessageFactory(
        session=session, role="assistant", content="\n    indented code\nXX then prose XX\n\n"
    )
    hidden = MessageFactory(session=session, role="user", content="SECRET words", hidden=True)
    attach(hidden, stored_file(user, "secret.txt"))
    MessageFactory(session=session, role="assistant", content="Last answer")
    MessageFactory(session=session, role="user", content="edited", parent=None, make_current=False)
    other = conversation(user, turns=1, title="Other talk")
    other.messages.update(content="OTHER TEXT")
    session.refresh_from_db()
    return session


def test_the_markdown_export_is_the_current_branch_as_one_text(user, talk, bystanders):
    session, messages = export(user, talk, every_branch=False)

    assert exports.as_markdown(session, messages) == (
        "# Plans\n"
        "\n"
        "*2024-05-06 07:08 UTC*\n"
        "\n"
        "## You\n"
        "\n"
        "What now?\n"
        "\n"
        "*Attached: first.txt, second.pdf*\n"
        "\n"
        "## Assistant\n"
        "\n"
        "    indented code\n"
        "XX then prose XX\n"
        "\n"
        "## You\n"
        "\n"
        "*This message was removed by a moderator.*\n"
        "\n"
        "## Assistant\n"
        "\n"
        "Last answer\n"
    )


def test_an_untitled_conversation_is_a_new_chat_and_an_empty_one_has_no_turns(user):
    session = conversation(user, turns=0, title="")
    ChatSession.objects.filter(pk=session.pk).update(created_at=CREATED)
    session.refresh_from_db()

    assert exports.as_markdown(session, []) == "# New chat\n\n*2024-05-06 07:08 UTC*\n"


def test_a_system_message_is_skipped_wherever_it_is_and_a_file_named_alone(user):
    session = conversation(user, turns=0, title="S")
    ChatSession.objects.filter(pk=session.pk).update(created_at=CREATED)
    MessageFactory(session=session, role="system", content="first system words")
    question = MessageFactory(session=session, role="user", content="Q")
    attach(question, stored_file(user, "only.txt"))
    MessageFactory(session=session, role="system", content="last system words")
    session.refresh_from_db()

    _, messages = export(user, session, every_branch=False)

    assert exports.as_markdown(session, messages) == (
        "# S\n\n*2024-05-06 07:08 UTC*\n\n## You\n\nQ\n\n*Attached: only.txt*\n"
    )


def test_the_json_export_holds_every_field_and_every_branch(user, talk, bystanders):
    ChatSession.objects.filter(pk=talk.pk).update(pinned=True, archived=True)
    session, messages = export(user, talk, every_branch=True)
    rows = list(Message.objects.filter(session=talk).order_by("sequence"))

    data = exports.as_json(session, messages)

    files = {f.name: f for f in StoredFile.objects.filter(owner=user)}

    def attached(*names):
        return [
            {
                "fileId": str(files[name].pk),
                "name": name,
                "size": len(name),
                "contentType": "text/plain",
                "kind": "document",
            }
            for name in names
        ]

    assert data == {
        "sessionId": str(talk.pk),
        "title": "Plans",
        "model": "model-a",
        "pinned": True,
        "archived": True,
        "currentMessageId": str(rows[4].pk),
        "createdAt": "2024-05-06T07:08:09+00:00",
        "updatedAt": "2024-06-07T08:09:10+00:00",
        "messages": [
            {
                "messageId": str(row.pk),
                "parentId": str(row.parent_id) if row.parent_id else None,
                "role": row.role,
                "content": "" if row.hidden else row.content,
                "status": "complete",
                "hidden": row.hidden,
                "createdAt": row.created_at.isoformat(),
                "attachments": files_of,
            }
            for row, files_of in zip(
                rows,
                [attached("first.txt", "second.pdf"), [], [], [], [], []],
                strict=True,
            )
        ],
    }
    assert [m["parentId"] for m in data["messages"]] == [
        None,
        str(rows[0].pk),
        str(rows[1].pk),
        str(rows[2].pk),
        str(rows[3].pk),
        None,
    ]
    assert "SECRET" not in str(data) and "secret.txt" not in str(data)
    assert "OTHER" not in str(data) and "bystander" not in str(data)


def test_a_json_export_without_a_current_message_says_null(user):
    session = conversation(user, turns=0, title="")
    ChatSession.objects.filter(pk=session.pk).update(created_at=CREATED, updated_at=CREATED)
    session.refresh_from_db()

    assert exports.as_json(session, []) == {
        "sessionId": str(session.pk),
        "title": "",
        "model": "",
        "pinned": False,
        "archived": False,
        "currentMessageId": None,
        "createdAt": "2024-05-06T07:08:09+00:00",
        "updatedAt": "2024-05-06T07:08:09+00:00",
        "messages": [],
    }
