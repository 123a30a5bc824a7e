"""Reads for exports (selectors, kept in their own module): a user's conversations with
every branch, and their files, as JSON-ready data.

Hidden messages keep their place but not their text or files, as everywhere their owner
looks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypedDict

from django.db.models import Prefetch

from attachments import selectors as attachment_selectors
from attachments.models import MessageAttachment, StoredFile
from conversations import payloads
from conversations.models import ChatSession, Message
from conversations.payloads import AttachmentPayload, ExportedMessage


class ExportedMessageWithFiles(ExportedMessage):
    attachments: list[AttachmentPayload]


class ExportedConversation(TypedDict):
    sessionId: str
    title: str
    createdAt: str
    updatedAt: str
    messages: list[ExportedMessageWithFiles]


def message_files(message: Message) -> list[AttachmentPayload]:
    """What was attached to ``message`` (its ``attachment_links`` read beforehand, with their
    files); none for a hidden message."""
    if message.hidden:
        return []
    return [payloads.attachment_payload(link.file) for link in message.attachment_links.all()]


def exported_message(message: Message) -> ExportedMessageWithFiles:
    """The message's row as is (every branch), with its files' metadata."""
    return {**payloads.exported_message(message), "attachments": message_files(message)}


def exported_conversations(*, user) -> Iterator[ExportedConversation]:
    """Every conversation of ``user``, oldest first, with all its messages in order and their
    files' metadata, read in chunks."""
    links = MessageAttachment.objects.select_related("file").order_by("position")
    messages = (
        Message.objects.filter(session__user=user)
        .order_by("session_id", "sequence")
        .prefetch_related(Prefetch("attachment_links", queryset=links))
    )
    by_session: dict = {}
    for message in messages.iterator(chunk_size=2000):
        by_session.setdefault(message.session_id, []).append(exported_message(message))
    sessions = ChatSession.objects.filter(user=user).order_by("created_at")
    for session in sessions.iterator(chunk_size=2000):
        yield {
            "sessionId": str(session.pk),
            "title": session.title,
            "createdAt": session.created_at.isoformat(),
            "updatedAt": session.updated_at.isoformat(),
            "messages": by_session.get(session.pk, []),
        }


def exported_files(*, user) -> list[tuple[StoredFile, AttachmentPayload]]:
    """The user's files that their export holds (``attachments.selectors.exported_files``),
    each with its metadata."""
    files = attachment_selectors.exported_files(user=user)
    return [(file, payloads.attachment_payload(file)) for file in files]
