"""Reads that leave the app, always scoped to a user.

Another user's session is indistinguishable from a missing one: both raise
``SessionNotFound``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypedDict, cast

from django.conf import settings
from django.db import connections, router
from django.db.models import (
    Case,
    CharField,
    Field,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Concat, Greatest, Length, StrIndex, Substr, Upper
from django.utils import timezone

from attachments import selectors as attachment_selectors
from attachments.models import MessageAttachment, StoredFile
from attachments.selectors import marking_files
from conversations import payloads
from conversations.context import MESSAGE_OVERHEAD_TOKENS, ContextMessage
from conversations.errors import MessageNotFound, SessionNotFound
from conversations.models import ChatSession, Message
from conversations.payloads import AttachmentPayload, ExportedMessage

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

# Characters of message text kept on each side of a search match in its excerpt.
EXCERPT_CONTEXT_CHARS = 60
ELLIPSIS = "\u2026"


def parse_uuid(value, *, not_found: type[Exception] = SessionNotFound) -> uuid.UUID:
    """A UUID from client input; anything else is treated as an unknown id."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise not_found() from None


def sessions_for_user(user, *, query: str = "", archived: bool = False) -> QuerySet[ChatSession]:
    """The user's conversations, most recently active first, optionally searched.

    Archived ones are listed on their own, and found by a search of the others too.
    """
    sessions = ChatSession.objects.filter(user=user).order_by("-updated_at", "-id")
    query = query.strip()
    if archived or not query:
        sessions = sessions.filter(archived=archived)
    if query:
        matching_messages = Message.objects.filter(content__icontains=query, hidden=False).values(
            "session_id"
        )
        sessions = sessions.filter(Q(title__icontains=query) | Q(id__in=matching_messages))
    return sessions


class SearchExcerpt(TypedDict):
    """What ``with_search_excerpt`` adds to each conversation."""

    search_excerpt: str | None


def with_search_excerpt(sessions: QuerySet[ChatSession], *, query: str) -> QuerySet[ChatSession]:
    """``sessions`` with ``search_excerpt``: the text around the first match of ``query`` in
    a visible message of each (None when only the title matches), read in the same query.

    The match is found as the search finds it (``icontains`` is ``UPPER(...) LIKE`` on
    PostgreSQL and ASCII-insensitive on SQLite, as ``UPPER`` is there), so the excerpt holds it.
    """
    query = query.strip()
    position = StrIndex(Upper("content"), Upper(Value(query)))
    start = Greatest(position - EXCERPT_CONTEXT_CHARS, Value(1))
    window = len(query) + 2 * EXCERPT_CONTEXT_CHARS
    excerpt = Concat(
        Case(
            When(Q(position__gt=EXCERPT_CONTEXT_CHARS + 1), then=Value(ELLIPSIS)), default=Value("")
        ),
        Substr("content", start, window),
        Case(When(Q(length__gt=start + window - 1), then=Value(ELLIPSIS)), default=Value("")),
        output_field=CharField(),
    )
    first_match = (
        Message.objects.filter(session=OuterRef("pk"), content__icontains=query, hidden=False)
        .annotate(position=position, length=Length("content"))
        .order_by("sequence")
        .values_list(excerpt)[:1]
    )
    return sessions.annotate(search_excerpt=Subquery(first_match, output_field=CharField()))


def get_session(*, user, session_id) -> ChatSession:
    """One of the user's conversations, or ``SessionNotFound``."""
    try:
        return ChatSession.objects.get(id=parse_uuid(session_id), user=user)
    except ChatSession.DoesNotExist:
        raise SessionNotFound() from None


def messages_for_session(*, user, session_id, every_branch: bool = False) -> QuerySet[Message]:
    """The messages of one of the user's conversations, oldest first: its current branch,
    or with ``every_branch`` the whole tree in creation order."""
    session = get_session(user=user, session_id=session_id)
    if every_branch:
        return Message.objects.filter(session=session).order_by("sequence")
    return branch_messages(session)


def branch_messages(session: ChatSession) -> QuerySet[Message]:
    """The current branch of a conversation, oldest first: one query at any size."""
    leaf_id = session.current_message_id
    if leaf_id is None:
        return Message.objects.none()
    return Message.objects.filter(session=session, id__in=_path_to(leaf_id)).order_by("sequence")


def branch_page(session: ChatSession, *, after: int, count: int) -> QuerySet[Message]:
    """The messages of the current branch at depths ``after`` + 1 to ``after`` + ``count``,
    oldest first: one query, whose walk from the leaf takes O(log depth) steps to the
    window and then ``count`` steps through it, at any depth."""
    leaf_id = session.current_message_id
    if leaf_id is None:
        return Message.objects.none()
    window = _window_of(leaf_id, first=after + 1, last=after + count)
    # No filter on the session: the walk stays in the leaf's, and with one the planner
    # scans all of the session's messages to test them against the window.
    return Message.objects.filter(id__in=window).order_by("sequence")


# Django has no API for recursive queries; PostgreSQL and SQLite both run WITH RECURSIVE,
# which walks a branch of any depth in one query instead of one query per message.


def _tree_sql() -> tuple[Any, dict[str, str]]:
    """The connection reading messages, and the quoted names its recursive SQL uses."""
    connection = connections[router.db_for_read(Message)]
    quote = connection.ops.quote_name
    names = {
        "table": quote(Message._meta.db_table),
        "key": quote(_column("id")),
        "parent": quote(_column("parent")),
        "sequence": quote(_column("sequence")),
        "depth": quote(_column("depth")),
        "jump": quote(_column("jump")),
        "tokens": quote(_column("token_count")),
    }
    return connection, names


def _column(name: str) -> str:
    # get_field's type also allows a reverse relation and a field without a column; these
    # names are columns of the table.
    return cast(str, cast(Field, Message._meta.get_field(name)).column)


def _path_to(message_id) -> RawSQL:
    """The ids of a message and its ancestors up to the first message of its conversation."""
    connection, n = _tree_sql()
    sql = (
        "WITH RECURSIVE path(node, up) AS ("
        "SELECT {key}, {parent} FROM {table} WHERE {key} = %s "
        "UNION ALL SELECT m.{key}, m.{parent} FROM {table} m JOIN path ON m.{key} = path.up"
        ") SELECT node FROM path"
    ).format(**n)
    return RawSQL(sql, [Message._meta.pk.get_db_prep_value(message_id, connection)])


def _window_of(message_id, *, first: int, last: int) -> RawSQL:
    """The ids of the ancestors of a message (itself included) at depths ``first`` to
    ``last``. Each step goes to the jump when that stays at or below ``last``, else to the
    parent: jumps down to ``last``, then parent by parent (a jump is never past its
    parent)."""
    connection, n = _tree_sql()
    sql = (
        "WITH RECURSIVE walk(node, depth, up, jump) AS ("
        "SELECT {key}, {depth}, {parent}, {jump} FROM {table} WHERE {key} = %s "
        "UNION ALL SELECT m.{key}, m.{depth}, m.{parent}, m.{jump} FROM walk "
        "JOIN {table} j ON j.{key} = walk.jump "
        "JOIN {table} m ON m.{key} = CASE WHEN j.{depth} >= %s THEN walk.jump ELSE walk.up END "
        "WHERE walk.depth > %s"
        ") SELECT node FROM walk WHERE depth BETWEEN %s AND %s"
    ).format(**n)
    key = Message._meta.pk.get_db_prep_value(message_id, connection)
    return RawSQL(sql, [key, last, first, first, last])


def newest_leaf_under(message: Message):
    """The id of the leaf reached from ``message`` by always taking its most recently
    created child."""
    connection, n = _tree_sql()
    sql = (
        "WITH RECURSIVE down(node, depth) AS ("
        "SELECT {key}, 0 FROM {table} WHERE {key} = %s "
        "UNION ALL SELECT c.{key}, down.depth + 1 FROM {table} c "
        "JOIN down ON c.{parent} = down.node WHERE NOT EXISTS ("
        "SELECT 1 FROM {table} n WHERE n.{parent} = c.{parent} AND n.{sequence} > c.{sequence})"
        ") SELECT node FROM down ORDER BY depth DESC LIMIT 1"
    ).format(**n)
    with connection.cursor() as cursor:
        cursor.execute(sql, [Message._meta.pk.get_db_prep_value(message.pk, connection)])
        (node,) = cursor.fetchone()
    return Message._meta.pk.to_python(node)


class OwnerRating(TypedDict):
    """The owner's rating of a reply, set on it for its payload (``payloads.reply_feedback``)."""

    my_rating: str | None
    my_comment: str | None


def with_sibling_ids(messages: list[Message]) -> list[Message]:
    """``messages`` (of one conversation) with ``sibling_ids`` set on each: the ids of the
    messages with the same parent, its own included, oldest first; and the owner's rating of
    each (``my_rating`` and ``my_comment``, None when not rated). One query for a page."""
    if not messages:
        return messages
    parents = {message.parent_id for message in messages}
    # A parent's children are in its conversation: only first messages need the session,
    # which as a filter on every row would make SQLite scan all of the conversation's.
    same_parent = Q(parent_id__in=[p for p in parents if p is not None])
    if None in parents:
        same_parent |= Q(parent__isnull=True, session_id=messages[0].session_id)
    # Siblings include each message itself, so its rating comes with the same rows. Only the
    # conversation's owner can rate its replies (sharing.services.rate_reply).
    rows = (
        Message.objects.filter(same_parent)
        .order_by("sequence")
        .values_list("id", "parent_id", "feedback__rating", "feedback__comment")
    )
    children: dict[Any, list[str]] = {}
    ratings: dict[Any, tuple[str | None, str | None]] = {}
    for message_id, parent_id, rating, comment in rows:
        if message_id not in ratings:
            children.setdefault(parent_id, []).append(str(message_id))
            ratings[message_id] = (rating, comment)
    for message in messages:
        message.sibling_ids = children.get(message.parent_id, [str(message.pk)])
        # Not declared on Message: sharing.selectors.with_feedback annotates the same names.
        rated = cast("WithAnnotations[Message, OwnerRating]", message)
        rated.my_rating, rated.my_comment = ratings.get(message.pk, (None, None))
    return messages


def stale_cutoff() -> datetime:
    """A reply still ``streaming`` but not saved since then has lost its writer."""
    return timezone.now() - timedelta(seconds=settings.CHATBOT_STREAM_STALE_AFTER)


def reported_status(message: Message) -> str:
    """The status to show: a reply whose writer died reads as failed before any sweep
    stores it (reads never write)."""
    if message.status == Message.Status.STREAMING and message.updated_at < stale_cutoff():
        return Message.Status.FAILED
    return message.status


def get_message(*, user, message_id) -> Message:
    """One message of one of the user's conversations, or ``MessageNotFound``."""
    try:
        return Message.objects.select_related("session").get(
            id=parse_uuid(message_id, not_found=MessageNotFound), session__user=user
        )
    except Message.DoesNotExist:
        raise MessageNotFound() from None


def message_in_session(*, session: ChatSession, message_id) -> Message:
    """A message of ``session``, or ``MessageNotFound`` (another conversation's message,
    or another user's, answers the same)."""
    try:
        return Message.objects.get(
            id=parse_uuid(message_id, not_found=MessageNotFound), session=session
        )
    except Message.DoesNotExist:
        raise MessageNotFound() from None


def context_history(*, last_id, budget: int | None = None) -> Iterator[ContextMessage]:
    """What the model may see of a conversation, newest first: the branch that ends at the
    message ``last_id`` (the parent of the message being answered); other branches never.

    Hidden messages (and so their files), replies still streaming or failed, and empty
    messages are left out. A message with files is marked with its id (``files``), in the
    same query, so that only the files of the messages that fit are read, all at once.
    With a ``budget``, the first message past it is the last one yielded (so the caller
    sees that history was cut), and the walk up the branch stops there: turn 1,000 of a
    conversation reads what any full context does, in one query on every database.
    """
    visible = Message.objects.filter(
        Q(role=Message.Role.USER)
        | Q(
            role=Message.Role.ASSISTANT,
            status__in=[Message.Status.COMPLETE, Message.Status.CANCELLED],
        ),
        hidden=False,
    ).exclude(content="")
    if settings.CHATBOT_MODERATION == "block":
        # Refused messages (flagged, or unchecked while moderation was down) never reach
        # the model, not even as history of a later turn.
        visible = visible.exclude(role=Message.Role.USER, flagged=True).exclude(
            role=Message.Role.USER, moderation_failed=True
        )
    # Along a branch every message was created after its parent, so the newest first is
    # the highest sequence first.
    rows = (
        marking_files(visible.filter(id__in=_path_within(last_id, visible=visible, budget=budget)))
        .order_by("-sequence")
        .values_list("role", "content", "token_count", "pk", "has_files")
    )
    for role, content, tokens, message_id, has_files in rows:
        yield ContextMessage(role, content, tokens, message_id if has_files else None)


def _path_within(message_id, *, visible: QuerySet[Message], budget: int | None) -> RawSQL:
    """The ids of a message and its ancestors, up to the first of the ``visible`` ones whose
    tokens (each with its overhead, counted from ``message_id`` up) pass ``budget``."""
    connection, n = _tree_sql()
    # The rows a context keeps, as SQL on the unaliased table, so the walk counts exactly
    # those: the same filter then selects them from the path.
    shown, shown_params = visible.query.get_compiler(connection=connection).compile(
        visible.query.where
    )
    cost = "CASE WHEN {shown} THEN {table}.{tokens} + %s ELSE 0 END".format(shown=shown, **n)
    sql = (
        "WITH RECURSIVE path(node, up, used) AS ("
        "SELECT {table}.{key}, {table}.{parent}, {cost} FROM {table} WHERE {table}.{key} = %s "
        "UNION ALL SELECT {table}.{key}, {table}.{parent}, path.used + {cost} "
        "FROM {table} JOIN path ON {table}.{key} = path.up{stop}"
        ") SELECT node FROM path"
    ).format(cost=cost, stop="" if budget is None else " WHERE path.used <= %s", **n)
    counted = [*shown_params, MESSAGE_OVERHEAD_TOKENS]
    params = [*counted, Message._meta.pk.get_db_prep_value(message_id, connection), *counted]
    return RawSQL(sql, params if budget is None else [*params, budget])


# --- Exports: a user's conversations with every branch, and their files, as JSON-ready
# data. Hidden messages keep their place but not their text or files.


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
