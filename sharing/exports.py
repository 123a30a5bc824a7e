"""One conversation as Markdown or JSON for its owner; hidden text never leaves."""

from __future__ import annotations

from conversations import selectors as conversation_selectors
from conversations.models import ChatSession, Message

REMOVED = "*This message was removed by a moderator.*"
SPEAKERS = {Message.Role.USER: "You", Message.Role.ASSISTANT: "Assistant"}


def as_json(session: ChatSession, messages: list[Message]) -> dict:
    """Every branch (``parentId`` per message, ``currentMessageId`` the current leaf) and
    the attached files' metadata; readable by POST /api/chat/import (the app's own format)."""
    return {
        "sessionId": str(session.pk),
        "title": session.title,
        "model": session.model,
        "pinned": session.pinned,
        "archived": session.archived,
        "currentMessageId": str(session.current_message_id) if session.current_message_id else None,
        "createdAt": session.created_at.isoformat(),
        "updatedAt": session.updated_at.isoformat(),
        "messages": [conversation_selectors.exported_message(message) for message in messages],
    }


def as_markdown(session: ChatSession, messages: list[Message]) -> str:
    """A heading per turn of ``messages`` (the current branch); the messages' own Markdown
    (code blocks too) kept as written, and attached files named."""
    lines = [f"# {session.title or 'New chat'}", "", f"*{session.created_at:%Y-%m-%d %H:%M} UTC*"]
    for message in messages:
        if message.role not in SPEAKERS:
            continue
        lines += ["", f"## {SPEAKERS[message.role]}", ""]
        lines.append(REMOVED if message.hidden else message.content.strip("\n"))
        names = [attachment["name"] for attachment in conversation_selectors.message_files(message)]
        if names:
            lines += ["", "*Attached: " + ", ".join(names) + "*"]
    return "\n".join(lines) + "\n"
