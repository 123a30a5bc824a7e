"""Importing conversations: ChatGPT's data export (``conversations.json`` or its zip) and
this app's own exports, read streaming and stored in one transaction.

A conversation that breaks a rule (control characters, a message too long) is skipped whole
and reported; a file that is not one of these formats, or is cut short, imports nothing.
"""

from __future__ import annotations

import heapq
import io
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO

from django.db import transaction
from django.utils import timezone

from conversations import services as conversation_services
from conversations.context import count_tokens
from conversations.models import ChatSession, Message
from conversations.titles import TITLE_MAX_CHARS
from conversations.validation import has_bad_characters
from sharing.errors import BadImport
from sharing.jsonstream import JsonStream, JsonStreamError
from sharing.models import ImportedConversation

IMPORTED_MODEL = "imported"
MESSAGE_MAX_CHARS = 100_000
MESSAGES_MAX = 10_000
CONVERSATION_MAX_CHARS = 64 * 1024 * 1024
UNZIPPED_MAX_BYTES = 4 * 1024 * 1024 * 1024
ERRORS_MAX = 100
BATCH = 500


class SkipConversation(ValueError):
    """One conversation cannot be imported; the others can."""


@dataclass
class Node:
    """One message of a conversation's tree, as the file has it."""

    key: str
    parent: str | None  # the key of the message it follows, None for a first message
    role: str
    content: str
    created_at: datetime
    model: str


@dataclass
class Conversation:
    source: str
    source_id: str
    title: str
    created_at: datetime
    updated_at: datetime
    messages: list[Node]  # parents before their children, oldest first
    current: str | None  # the key of the current leaf


@dataclass
class ImportResult:
    imported: int = 0
    skipped: int = 0
    errors: list[dict] = field(default_factory=list)


def import_conversations(*, user, upload: IO[bytes]) -> ImportResult:
    """Store every conversation of the file not imported before, all or nothing."""
    result = ImportResult()
    with transaction.atomic():
        seen = set(
            ImportedConversation.objects.filter(user=user).values_list("source", "source_id")
        )
        for index, item in enumerate(_items(_json_file(upload))):
            try:
                conversation = _parse(item)
            except SkipConversation as exc:
                result.skipped += 1
                if len(result.errors) < ERRORS_MAX:
                    result.errors.append({"index": index, "detail": str(exc)})
                continue
            key = (conversation.source, conversation.source_id)
            if key in seen:
                result.skipped += 1
                continue
            seen.add(key)
            _store(user=user, conversation=conversation)
            result.imported += 1
    return result


def _json_file(upload: IO[bytes]) -> IO[bytes]:
    """The JSON to read: the upload itself, or ``conversations.json`` inside its zip."""
    upload.seek(0)
    if upload.read(4) != b"PK\x03\x04":
        upload.seek(0)
        return upload
    upload.seek(0)
    try:
        archive = zipfile.ZipFile(upload)
        names = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == "conversations.json"]
        if not names:
            raise BadImport("The zip file has no conversations.json.", field="file")
        return _Capped(archive.open(min(names, key=len)), UNZIPPED_MAX_BYTES)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as exc:
        raise BadImport(f"The zip file cannot be read: {exc}.", field="file") from None


class _Capped(io.RawIOBase):
    """A zip member that stops at ``limit`` bytes (a small zip can hold a huge file)."""

    def __init__(self, member: IO[bytes], limit: int) -> None:
        self._member, self._left = member, limit

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._member.read(size)
        self._left -= len(data)
        if self._left < 0:
            raise BadImport("conversations.json is too large once unzipped.", field="file")
        return data


def _items(file: IO[bytes]) -> Iterator[dict]:
    """Each conversation of the file, as a dict, without reading the file whole."""
    stream = JsonStream(file, max_item_chars=CONVERSATION_MAX_CHARS)
    try:
        first = stream.peek()
        if first == "[":
            yield from stream.array_items()
        elif first == "{":
            head = {}
            for key, value in stream.object_members():
                if key == "conversations" and value.peek() == "[":
                    head[key] = True
                    yield from value.array_items()
                else:
                    head[key] = value.value()
            if "conversations" not in head:
                # One conversation exported on its own.
                yield head
        else:
            raise JsonStreamError("Expected a JSON array or object", stream.offset)
        stream.end()
    except JsonStreamError as exc:
        raise BadImport(f"{exc.problem}, at character {exc.offset}.", field="file") from None


def _parse(item) -> Conversation:
    if not isinstance(item, dict):
        raise SkipConversation("Not a conversation (expected a JSON object).")
    if "mapping" in item:
        return _parse_chatgpt(item)
    if "messages" in item:
        return _parse_own(item)
    raise SkipConversation("Not a conversation: it has neither 'mapping' nor 'messages'.")


def _timestamp(value, default: datetime) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return default
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return default
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return default


def _text(value, what: str) -> str:
    if not isinstance(value, str):
        raise SkipConversation(f"{what} is not text.")
    if has_bad_characters(value):
        raise SkipConversation(f"{what} contains control characters.")
    return value


def _title(value) -> str:
    if value is None:
        return ""
    return " ".join(_text(value, "The title").split())[:TITLE_MAX_CHARS]


def _source_id(value) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise SkipConversation("The conversation has no id.")
    return value


def _checked_messages(messages: list) -> list:
    if len(messages) > MESSAGES_MAX:
        raise SkipConversation(f"More than {MESSAGES_MAX} messages.")
    for position, node in enumerate(messages, start=1):
        if len(node.content) > MESSAGE_MAX_CHARS:
            raise SkipConversation(
                f"Message {position} is longer than {MESSAGE_MAX_CHARS} characters."
            )
    return messages


def _chatgpt_content(message: dict) -> str:
    content = message.get("content")
    if not isinstance(content, dict):
        return ""
    kind = content.get("content_type")
    if kind in ("text", "multimodal_text"):
        parts = content.get("parts")
        if not isinstance(parts, list):
            return ""
        return "\n".join(part for part in parts if isinstance(part, str))
    if kind == "code" and isinstance(content.get("text"), str):
        return f"```\n{content['text']}\n```"
    return ""


def _tree(nodes: dict[str, Node], parents: dict[str, str | None], current) -> tuple:
    """The kept ``nodes`` as a tree, parents before children and otherwise oldest first,
    and the current leaf. ``parents`` holds every node of the file, kept or not: a kept
    node follows its nearest kept ancestor (a skipped system message or an empty root is
    left out, its children move up). Nodes that no root reaches (a cycle) are left out."""

    def kept_ancestor(key) -> str | None:
        seen = set()
        key = parents.get(key)
        while key is not None and key not in nodes and key not in seen:
            seen.add(key)
            key = parents.get(key)
        return key if key in nodes else None

    children: dict[str | None, list[Node]] = {}
    for node in nodes.values():
        node.parent = kept_ancestor(node.key)
        children.setdefault(node.parent, []).append(node)
    ordered, waiting = [], [(n.created_at, i, n) for i, n in enumerate(children.get(None, []))]
    heapq.heapify(waiting)
    tie = len(nodes)
    while waiting:
        _, _, node = heapq.heappop(waiting)
        ordered.append(node)
        for child in children.get(node.key, []):
            # A child never before its parent, even with an earlier timestamp.
            tie += 1
            heapq.heappush(waiting, (max(child.created_at, node.created_at), tie, child))
    if current is not None and current not in nodes:
        current = kept_ancestor(current)
    if current is None or current not in {node.key for node in ordered}:
        # The newest message is a leaf: every child comes after its parent.
        current = ordered[-1].key if ordered else None
    return ordered, current


def _parse_chatgpt(item: dict) -> Conversation:
    """Every branch of a ChatGPT conversation (regenerated answers, edited questions), its
    current node as the current leaf."""
    mapping = item["mapping"]
    if not isinstance(mapping, dict):
        raise SkipConversation("'mapping' is not an object.")
    now = timezone.now()
    created = _timestamp(item.get("create_time"), now)
    parents: dict[str, str | None] = {}
    nodes: dict[str, Node] = {}
    for node_id, node in mapping.items():
        if not isinstance(node, dict):
            raise SkipConversation(f"Node {node_id!r} is not an object.")
        parent = node.get("parent")
        parents[node_id] = parent if isinstance(parent, str) else None
        message = node.get("message")
        if not isinstance(message, dict):
            continue
        author = message.get("author")
        role = author.get("role") if isinstance(author, dict) else None
        metadata = message.get("metadata") if isinstance(message.get("metadata"), dict) else {}
        hidden = metadata.get("is_visually_hidden_from_conversation")
        if hidden:
            continue
        slug = metadata.get("model_slug")
        model = IMPORTED_MODEL
        if isinstance(slug, str) and slug:
            model = f"{IMPORTED_MODEL}:{slug}"[:100]
        if node := _node(
            node_id,
            role=role,
            text=_chatgpt_content(message),
            created_at=_timestamp(message.get("create_time"), created),
            model=model,
        ):
            nodes[node_id] = node
    return _conversation(
        source=ImportedConversation.Source.CHATGPT,
        source_id=item.get("conversation_id") or item.get("id"),
        title=item.get("title"),
        nodes=nodes,
        parents=parents,
        current=item.get("current_node"),
        created=created,
        updated=item.get("update_time"),
    )


def _parse_own(item: dict) -> Conversation:
    """A conversation of this app's export, every branch (``parentId``; an export without
    them is one branch). Messages hidden by a moderator have no text and are left out."""
    if not isinstance(item["messages"], list):
        raise SkipConversation("'messages' is not a list.")
    if len(item["messages"]) > MESSAGES_MAX:
        raise SkipConversation(f"More than {MESSAGES_MAX} messages.")
    now = timezone.now()
    created = _timestamp(item.get("createdAt"), now)
    parents: dict[str, str | None] = {}
    nodes: dict[str, Node] = {}
    previous = None
    for position, message in enumerate(item["messages"]):
        if not isinstance(message, dict):
            raise SkipConversation("A message is not an object.")
        key = message.get("messageId")
        key = key if isinstance(key, str) and key not in parents else f"#{position}"
        parent = message.get("parentId", previous) if "messageId" in message else previous
        parents[key] = parent if isinstance(parent, str) else None
        previous = key
        if message.get("hidden"):
            continue
        if node := _node(
            key,
            role=message.get("role"),
            text=message.get("content", ""),
            created_at=_timestamp(message.get("createdAt"), created),
            model=IMPORTED_MODEL,
        ):
            nodes[key] = node
    return _conversation(
        source=ImportedConversation.Source.CHATBOT,
        source_id=item.get("sessionId"),
        title=item.get("title"),
        nodes=nodes,
        parents=parents,
        current=item.get("currentMessageId"),
        created=created,
        updated=item.get("updatedAt"),
    )


def _node(key: str, *, role, text, created_at: datetime, model: str) -> Node | None:
    """A user's or the model's message with some text, as a node; None for any other, which
    is left out (its children move up)."""
    if role not in ("user", "assistant"):
        return None
    content = _text(text, "A message")
    if not content.strip():
        return None
    return Node(
        key=key,
        parent=None,
        role=role,
        content=content,
        created_at=created_at,
        model=model if role == "assistant" else "",
    )


def _conversation(
    *,
    source: str,
    source_id,
    title,
    nodes: dict[str, Node],
    parents: dict[str, str | None],
    current,
    created: datetime,
    updated,
) -> Conversation:
    """The parsed conversation: its kept messages as a tree (``_tree``), checked."""
    messages, current = _tree(nodes, parents, current if isinstance(current, str) else None)
    return Conversation(
        source=source,
        source_id=_source_id(source_id),
        title=_title(title),
        created_at=created,
        updated_at=_timestamp(updated, created),
        messages=_checked_messages(messages),
        current=current,
    )


def _store(*, user, conversation: Conversation) -> ChatSession:
    """The conversation with every branch; its rows are new (ids of the file never reused)."""
    session = ChatSession.objects.create(
        user=user,
        title=conversation.title,
        created_at=conversation.created_at,
        updated_at=conversation.updated_at,
    )
    ImportedConversation.objects.create(
        user=user,
        session=session,
        source=conversation.source,
        source_id=conversation.source_id,
    )
    ids = {node.key: uuid.uuid4() for node in conversation.messages}
    messages = {
        node.key: Message(
            id=ids[node.key],
            session=session,
            parent_id=ids[node.parent] if node.parent is not None else None,
            sequence=sequence,
            role=node.role,
            content=node.content,
            token_count=count_tokens(node.content),
            model=node.model,
            created_at=node.created_at,
            updated_at=node.created_at,
        )
        for sequence, node in enumerate(conversation.messages, start=1)
    }
    conversation_services.store_as_tree(
        session=session,
        messages=list(messages.values()),
        current=messages[conversation.current] if conversation.current is not None else None,
        batch_size=BATCH,
    )
    return session
