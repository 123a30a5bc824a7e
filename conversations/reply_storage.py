"""Storing replies as they stream: the growing text, the final row, and replies whose writer
died. Used by the reply runner (``conversations.replies``), never by a transport."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from django.db import connections, router, transaction
from django.db.models import Field
from django.utils import timezone

from conversations import limits, selectors
from conversations.context import count_tokens
from conversations.models import ChatSession, Message
from usage import rollup as usage_rollup

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


def save_reply_progress(progress: Mapping[Any, str]) -> None:
    """Write the text of streaming replies as it has grown so far, ``{reply id: text}``
    (also their writer's heartbeat). A reply that is no longer streaming is left alone.

    Every reply of a process is saved through here every ``CHATBOT_STREAM_SAVE_INTERVAL``,
    together: one prepared UPDATE run for all of them in one transaction. Written in SQL
    because the ORM has no batched update with a condition per row except ``bulk_update``'s
    CASE, whose compilation grows with the batch: 500 replies saved one ``update()`` each
    cost 300 ms of CPU a second.
    """
    if not progress:
        return
    connection = connections[router.db_for_write(Message)]
    quote = connection.ops.quote_name
    sql = (
        f"UPDATE {quote(Message._meta.db_table)} "
        f"SET {quote(_column('content'))} = %s, {quote(_column('updated_at'))} = %s "
        f"WHERE {quote(_column('id'))} = %s AND {quote(_column('status'))} = %s"
    )
    now = _field("updated_at").get_db_prep_value(timezone.now(), connection)
    key, streaming = _field("id"), Message.Status.STREAMING
    # In id order: the order delete_session locks them in, so the two never deadlock.
    rows = [
        (content, now, key.get_db_prep_value(reply_id, connection), streaming)
        for reply_id, content in sorted(progress.items(), key=lambda item: str(item[0]))
    ]
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _field(name: str) -> Field:
    # get_field's type also allows a reverse relation; these names are the table's columns.
    return cast(Field, Message._meta.get_field(name))


def _column(name: str) -> str:
    return cast(str, _field(name).column)


def finish_reply(
    *,
    reply: Message,
    content: str,
    status: str,
    model: str = "",
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    cached_tokens: int | None = None,
    first_token_ms: int | None = None,
    total_ms: int | None = None,
    reservation: limits.Reservation | None = None,
) -> Message | None:
    """Store the reply's final text and status, settle its quota reservation, and return
    the reply as stored; None if its session was deleted meanwhile."""
    now = timezone.now()
    token_count = count_tokens(content)
    fields = {
        "content": content,
        "status": status,
        "token_count": token_count,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "cached_tokens": cached_tokens,
        "first_token_ms": first_token_ms,
        "total_ms": total_ms,
        "updated_at": now,
    }
    if model:
        fields["model"] = model
    with transaction.atomic():
        # The session row first, as delete_session and sends lock it: the same order
        # everywhere, so a delete and the end of its reply never deadlock.
        ChatSession.objects.filter(pk=reply.session_id).update(updated_at=now)
        # A reply counts in the usage rollup once, when it ends: here if it was still
        # streaming, not when a sweep already ended it (failed) or on a retried save.
        ended = Message.objects.filter(pk=reply.pk, status=Message.Status.STREAMING).update(
            **fields
        )
        updated = ended or Message.objects.filter(pk=reply.pk).update(**fields)
        # Only the moderator's flag (and, for the payload sent from async code that cannot
        # query, the owner's rating) is read back: a reply hidden while it streamed must not
        # come back in full in the final event.
        if updated:
            _read_back(reply)
        if ended:
            usage_rollup.record_reply(reply=reply, stored=fields)
    spent = (prompt_tokens or 0) + (completion_tokens or 0) or token_count
    limits.settle_tokens(reservation, spent=spent)
    if not updated:
        return None
    for name, value in fields.items():
        setattr(reply, name, value)
    return reply


def _read_back(reply: Message) -> None:
    """Set ``hidden`` and what the payload reads (``selectors.with_sibling_ids``) on the
    reply just finished. Its siblings cannot change while it streams (a regenerate waits for
    it and an edit branches off above it), so the ones its turn read are kept and one query
    reads the flag and the rating together."""
    if not hasattr(reply, "sibling_ids"):
        reply.hidden = Message.objects.values_list("hidden", flat=True).get(pk=reply.pk)
        selectors.with_sibling_ids([reply])
        return
    # my_rating and my_comment are not declared on Message (see selectors.with_sibling_ids).
    rated = cast("WithAnnotations[Message, selectors.OwnerRating]", reply)
    rated.hidden, rated.my_rating, rated.my_comment = Message.objects.values_list(
        "hidden", "feedback__rating", "feedback__comment"
    ).get(pk=reply.pk)


def fail_stale_replies(*, session_id=None, reply_id=None) -> int:
    """Store as failed the replies whose writer stopped beating (a process died), and add
    them to the usage rollup as failed; reads already report them failed
    (``selectors.reported_status``)."""
    stale = Message.objects.filter(
        status=Message.Status.STREAMING, updated_at__lt=selectors.stale_cutoff()
    )
    if session_id is not None:
        stale = stale.filter(session_id=session_id)
    if reply_id is not None:
        stale = stale.filter(pk=reply_id)
    # Followers sweep every poll and almost always find nothing: a read, no write lock.
    if not stale.exists():
        return 0
    with transaction.atomic():
        # Locked (in id order, as delete_session locks them) until the rollup has them: a
        # writer ending one meanwhile waits, then finds it failed and does not count it again.
        swept = list(
            stale.select_for_update(of=("self",))
            .select_related("session")
            .defer("content")
            .order_by("pk")
        )
        Message.objects.filter(pk__in=[reply.pk for reply in swept]).update(
            status=Message.Status.FAILED
        )
        usage_rollup.record_swept(replies=swept)
    return len(swept)
