"""Everything the app says about a conversation, defined once: the message payload, the
events of the user's channel-layer group (relayed to every tab by ``consumers``), the
WebSocket's own error event, the SSE events of the API, and the data exports.

Each shape is a ``TypedDict`` and has one constructor here; ``static/js/chat.js`` reads the
same names, and status names and close codes reach it from ``page_constants``.
"""

from __future__ import annotations

import re
from typing import Literal, NotRequired, TypedDict

from django.utils.html import escape

from attachments import selectors as attachment_selectors
from attachments.models import StoredFile
from conversations import events, selectors
from conversations.models import Message
from core.errors import ChatError

# --- The message ------------------------------------------------------------------------


class ReplyUsage(TypedDict):
    """What a finished reply cost and how long it took (shown under it on demand)."""

    model: str
    promptTokens: int | None
    completionTokens: int | None
    cachedTokens: int | None
    firstTokenMs: int | None
    totalMs: int | None


def reply_usage(message: Message) -> ReplyUsage:
    return {
        "model": message.model,
        "promptTokens": message.prompt_tokens,
        "completionTokens": message.completion_tokens,
        "cachedTokens": message.cached_tokens,
        "firstTokenMs": message.first_token_ms,
        "totalMs": message.total_ms,
    }


class Feedback(TypedDict):
    """The owner's rating of a reply."""

    rating: str
    comment: str


def reply_feedback(message: Message) -> Feedback | None:
    """The owner's rating of an assistant reply, or None (read with its siblings, see
    ``message_payload``)."""
    rating = getattr(message, "my_rating", None)  # not a column of Message
    if message.role != Message.Role.ASSISTANT or rating is None:
        return None
    return {"rating": rating, "comment": getattr(message, "my_comment", None) or ""}


class AttachmentPayload(TypedDict):
    """A file on a message, as ``POST /api/files`` answered for it."""

    fileId: str
    name: str
    size: int
    contentType: str
    kind: str


def attachment_payload(file: StoredFile) -> AttachmentPayload:
    return {
        "fileId": str(file.pk),
        "name": file.name,
        "size": file.size,
        "contentType": file.content_type,
        "kind": file.kind,
    }


def attachments_of(message: Message, *, moderator: bool = False) -> list[AttachmentPayload]:
    """The files of a message, read beforehand for a page
    (``attachments.selectors.with_attached_files``, one query), or here for one message on
    a database thread; a hidden message's are hidden with it, except from moderators."""
    if message.hidden and not moderator:
        return []
    if not hasattr(message, "attached_files"):
        attachment_selectors.with_attached_files([message])
    return [attachment_payload(file) for file in message.attached_files]


class MessagePayload(TypedDict):
    """A message as its owner's tabs and API clients see it (hidden text is never sent)."""

    messageId: str
    sessionId: str
    parentId: str | None
    siblingIds: list[str]  # the messages with the same parent, this one included, oldest first
    role: str
    content: str
    status: str
    hidden: bool
    createdAt: str
    attachments: list[AttachmentPayload]
    feedback: Feedback | None  # the owner's rating of an assistant reply
    error: NotRequired[str]  # why a reply failed, in the group's ``chat.reply`` only
    usage: NotRequired[ReplyUsage]  # in the group's ``chat.reply`` only


def message_payload(message: Message) -> MessagePayload:
    """The payload; its siblings and rating are read beforehand (``selectors.with_sibling_ids``,
    one query for a page), or here for a single message on a database thread."""
    if not hasattr(message, "sibling_ids"):
        selectors.with_sibling_ids([message])
    return {
        "messageId": str(message.pk),
        "sessionId": str(message.session_id),
        "parentId": str(message.parent_id) if message.parent_id else None,
        "siblingIds": message.sibling_ids,
        "role": message.role,
        "content": "" if message.hidden else message.content,
        "status": selectors.reported_status(message),
        "hidden": message.hidden,
        "createdAt": message.created_at.isoformat(),
        "attachments": attachments_of(message),
        "feedback": reply_feedback(message),
    }


def search_snippet(*, text: str, query: str) -> str:
    """``text`` as HTML with every case-insensitive match of ``query`` in ``<mark>``: the
    rest escaped, so a snippet of untrusted text is safe to insert."""
    query = query.strip()
    if not query:
        return escape(text)
    parts = re.split(f"({re.escape(query)})", text, flags=re.IGNORECASE)
    # re.split with a group alternates text and matches: odd indexes are the matches.
    return "".join(
        f"<mark>{escape(part)}</mark>" if index % 2 else escape(part)
        for index, part in enumerate(parts)
    )


class ExportedMessage(TypedDict):
    """A message in its owner's data export (the payload without the session, which
    holds it there)."""

    messageId: str
    parentId: str | None
    role: str
    content: str
    status: str
    hidden: bool
    createdAt: str


def exported_message(message: Message) -> ExportedMessage:
    """The stored status, as is: an export is a copy of the rows (every branch)."""
    return {
        "messageId": str(message.pk),
        "parentId": str(message.parent_id) if message.parent_id else None,
        "role": message.role,
        "content": "" if message.hidden else message.content,
        "status": message.status,
        "hidden": message.hidden,
        "createdAt": message.created_at.isoformat(),
    }


class ModeratedMessage(TypedDict):
    """A message in a moderator's export: its text even when hidden, and its flags."""

    messageId: str
    parentId: str | None
    sequence: int
    role: str
    content: str
    status: str
    model: str
    flagged: bool
    flagCategories: list[str]
    moderationFailed: bool
    hidden: bool
    createdAt: str
    attachments: list[AttachmentPayload]


def moderated_message(message: Message) -> ModeratedMessage:
    return {
        "messageId": str(message.pk),
        "parentId": str(message.parent_id) if message.parent_id else None,
        "sequence": message.sequence,
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "model": message.model,
        "flagged": message.flagged,
        "flagCategories": message.flag_categories,
        "moderationFailed": message.moderation_failed,
        "hidden": message.hidden,
        "createdAt": message.created_at.isoformat(),
        "attachments": attachments_of(message, moderator=True),
    }


# --- Events of the user's group (``type`` names the consumer's handler) -------------------


class RenderedMessage(MessagePayload):
    html: str  # the message bubble, rendered with the page's own partial


class TurnEvent(TypedDict):
    type: Literal["chat.turn"]
    sessionId: str
    created: bool
    regenerated: bool
    requestId: str | None
    userMessage: RenderedMessage
    reply: RenderedMessage | None
    sessionHtml: str


def turn_event(
    *,
    session_id,
    created: bool,
    regenerated: bool,
    request_id,
    user_message: RenderedMessage,
    reply: RenderedMessage | None,
    session_html: str,
) -> TurnEvent:
    """A new turn (a send, or a regenerated reply), for every tab to show."""
    return {
        "type": "chat.turn",
        "sessionId": str(session_id),
        "created": created,
        "regenerated": regenerated,
        "requestId": request_id[:100] if isinstance(request_id, str) else None,
        "userMessage": user_message,
        "reply": reply,
        "sessionHtml": session_html,
    }


class DeltaEvent(TypedDict):
    type: Literal["chat.delta"]
    sessionId: str
    messageId: str
    content: str
    offset: int  # characters of the reply before ``content``: 0 for the text so far


def delta_event(*, session_id, message_id, content: str, offset: int) -> DeltaEvent:
    """New text of a streaming reply, or with offset 0 all of it so far (a catch-up)."""
    return {
        "type": "chat.delta",
        "sessionId": str(session_id),
        "messageId": str(message_id),
        "content": content,
        "offset": offset,
    }


class ReplyEvent(TypedDict):
    type: Literal["chat.reply"]
    message: MessagePayload


def reply_event(message: Message, *, error: ChatError | None = None) -> ReplyEvent:
    """A reply's final row; with ``error``, why it failed."""
    payload = message_payload(message)
    payload["usage"] = reply_usage(message)
    if error is not None:
        payload["error"] = error.detail
    return {"type": "chat.reply", "message": payload}


class TitleEvent(TypedDict):
    type: Literal["chat.title"]
    sessionId: str
    title: str


def title_event(*, session_id, title: str) -> TitleEvent:
    """A conversation's new title, renamed or generated."""
    return {"type": "chat.title", "sessionId": str(session_id), "title": title}


class BranchEvent(TypedDict):
    type: Literal["chat.branch"]
    sessionId: str
    currentMessageId: str


def branch_event(*, session_id, current_message_id) -> BranchEvent:
    """Another branch of a conversation became current (every tab follows)."""
    return {
        "type": "chat.branch",
        "sessionId": str(session_id),
        "currentMessageId": str(current_message_id),
    }


class SessionDeletedEvent(TypedDict):
    type: Literal["chat.session_deleted"]
    sessionId: str


def session_deleted_event(*, session_id) -> SessionDeletedEvent:
    return {"type": "chat.session_deleted", "sessionId": str(session_id)}


# --- The WebSocket's answer to one client message ---------------------------------------


class ErrorEvent(TypedDict):
    type: Literal["error"]
    detail: str
    code: str
    retryAfter: NotRequired[int]
    requestId: NotRequired[str]


def error_event(exc: ChatError, *, request_id=None) -> ErrorEvent:
    """A domain error, for the tab whose message caused it."""
    payload: ErrorEvent = {"type": "error", "detail": exc.detail, "code": exc.code}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        payload["retryAfter"] = retry_after
    if isinstance(request_id, str):
        payload["requestId"] = request_id[:100]
    return payload


# --- Server-Sent Events of the API (``event:`` name, ``data:`` object) ---------------------


class SseSession(TypedDict):
    sessionId: str
    userMessageId: str


def sse_session(*, session_id, user_message_id) -> SseSession:
    return {"sessionId": str(session_id), "userMessageId": str(user_message_id)}


class SseDelta(TypedDict):
    content: str


def sse_delta(content: str) -> SseDelta:
    return {"content": content}


class SseDone(TypedDict):
    """Also the JSON answer of a send without ``stream``."""

    message: str
    sessionId: str
    messageId: str
    status: str


def sse_done(message: Message) -> SseDone:
    return {
        "message": "" if message.hidden else message.content,
        "sessionId": str(message.session_id),
        "messageId": str(message.pk),
        "status": selectors.reported_status(message),
    }


class ErrorPayload(TypedDict):
    detail: str
    code: str
    field: NotRequired[str]
    messageId: NotRequired[str]
    sessionId: NotRequired[str]


def error_payload(exc: ChatError, **ids: str) -> ErrorPayload:
    """A domain error as JSON: the API's error body and the SSE ``error`` event."""
    payload: ErrorPayload = {"detail": exc.detail, "code": exc.code}
    if exc.field:
        payload["field"] = exc.field
    payload.update(ids)  # type: ignore[typeddict-item]
    return payload


# --- For the page's script ----------------------------------------------------------------


def page_constants() -> dict[str, str]:
    """Status names and close codes for ``static/js/chat.js``, as data attributes of the chat
    page's root element (``data-status-streaming``, ``data-close-signed-out``...)."""
    constants = {f"status-{value}": value for value in Message.Status.values}
    constants["close-signed-out"] = str(events.SIGNED_OUT)
    constants["close-access-ended"] = str(events.ACCESS_ENDED)
    return constants
