"""Moderators' actions on conversations: hide and flag messages, export conversations
(suspending users is in ``accounts.services``).

Each action writes in one transaction and records one entry per changed object in
Django's admin log, so it shows on that object's History page in admin. Objects already
in the requested state are left alone and not logged; the return value counts the
objects that changed.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.admin.models import CHANGE, LogEntry
from django.db import transaction
from django.db.models import Exists, OuterRef, Prefetch, QuerySet
from django.utils import timezone

from attachments import selectors as attachment_selectors
from conversations import payloads
from conversations.models import ChatSession, Message
from sharing import services as sharing_services

HID = "Hid the message."
UNHID = "Unhid the message."
FLAGGED = "Flagged the message for review."
UNFLAGGED = "Cleared the message's flag."
EXPORTED = "Exported as JSON."


def _ids(objects: Iterable):
    """Primary keys of ``objects``: a subquery for a queryset, else a list."""
    if isinstance(objects, QuerySet):
        return objects.order_by().values("pk")
    return [obj.pk for obj in objects]


def _log(moderator, objects: list, message: str) -> None:
    if objects:
        LogEntry.objects.log_actions(moderator.pk, objects, CHANGE, message)


def _set_messages(*, moderator, messages: Iterable[Message], note: str, **fields) -> list:
    """Set ``fields`` on the messages not already so, log each; the changed messages."""
    with transaction.atomic():
        targets = list(
            Message.objects.select_for_update()
            .filter(pk__in=_ids(messages))
            .exclude(**fields)
            .order_by("session_id", "sequence")
        )
        Message.objects.filter(pk__in=_ids(targets)).update(**fields, updated_at=timezone.now())
        _log(moderator, targets, note)
    return targets


def hide_messages(*, moderator, messages: Iterable[Message]) -> int:
    """Hide messages: their owner sees them as removed, the model no longer gets them, and
    no shared snapshot shows them."""
    with transaction.atomic():
        hidden = _set_messages(moderator=moderator, messages=messages, note=HID, hidden=True)
        sharing_services.forget_hidden_messages(hidden)
    return len(hidden)


def unhide_messages(*, moderator, messages: Iterable[Message]) -> int:
    """Show hidden messages again, to their owner and in the model's context."""
    return len(_set_messages(moderator=moderator, messages=messages, note=UNHID, hidden=False))


def flag_messages(*, moderator, messages: Iterable[Message]) -> int:
    """Mark messages for review; their conversations are flagged too."""
    with transaction.atomic():
        changed = _set_messages(moderator=moderator, messages=messages, note=FLAGGED, flagged=True)
        ChatSession.objects.filter(pk__in={m.session_id for m in changed}).update(flagged=True)
    return len(changed)


def unflag_messages(*, moderator, messages: Iterable[Message]) -> int:
    """Clear the flag of reviewed messages; a conversation stays flagged while any of its
    messages still is."""
    with transaction.atomic():
        changed = _set_messages(
            moderator=moderator, messages=messages, note=UNFLAGGED, flagged=False
        )
        still_flagged = Message.objects.filter(session=OuterRef("pk"), flagged=True)
        ChatSession.objects.filter(pk__in={m.session_id for m in changed}).exclude(
            Exists(still_flagged)
        ).update(flagged=False)
    return len(changed)


def _session_export(session: ChatSession) -> dict:
    return {
        "sessionId": str(session.id),
        "title": session.title,
        "owner": {"id": session.user_id, "username": session.user.username},
        "model": session.model,
        "instructions": session.instructions,
        "flagged": session.flagged,
        "createdAt": session.created_at.isoformat(),
        "updatedAt": session.updated_at.isoformat(),
        "messages": [payloads.moderated_message(message) for message in session.messages.all()],
    }


def export_sessions(*, moderator, sessions: QuerySet[ChatSession]) -> list[dict]:
    """The conversations with all their messages (hidden ones included, marked), as
    JSON-ready dicts; the export is logged on each conversation."""
    exported = list(
        ChatSession.objects.filter(pk__in=sessions.values("pk"))
        .select_related("user")
        .prefetch_related(Prefetch("messages", Message.objects.order_by("sequence")))
        .order_by("-created_at", "-id")
    )
    _log(moderator, exported, EXPORTED)
    attachment_selectors.with_attached_files(
        [message for session in exported for message in session.messages.all()]
    )
    return [_session_export(session) for session in exported]
