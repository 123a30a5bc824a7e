"""Conversations and their messages: data and invariants only; workflows live in services."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

if TYPE_CHECKING:
    from attachments.models import StoredFile


class ChatSession(models.Model):
    """One conversation between a user and the model."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_sessions"
    )
    title = models.CharField(max_length=255, blank=True)
    model = models.CharField(
        max_length=100, blank=True, help_text="Overrides CHATBOT_MODEL for this chat."
    )
    instructions = models.TextField(blank=True, help_text="Added to the system prompt.")
    flagged = models.BooleanField(default=False)
    pinned = models.BooleanField(default=False, help_text="Listed before the others.")
    archived = models.BooleanField(
        default=False, help_text="Left out of the list; still searchable."
    )
    current_message = models.ForeignKey(
        "Message",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The current leaf: the branch shown and continued.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-updated_at", "-id"], name="session_user_recent"),
        ]

    def __str__(self) -> str:
        return self.title or "New chat"


def jump_depth(depth: int) -> int | None:
    """The depth of the jump of a message at ``depth`` (none for a first message): ``depth``
    less the smallest term of its greedy sum of numbers 2**k - 1 (Myers' skew-binary jump
    pointers, 1983), so any ancestor is O(log depth) jumps or parent steps away."""
    if depth == 0:
        return None
    rest = depth
    while True:
        term = (1 << ((rest + 1).bit_length() - 1)) - 1  # the largest 2**k - 1 up to rest
        if term == rest:
            return depth - term
        rest -= term


class MessageQuerySet(models.QuerySet):
    def bulk_create(self, objs, *args, **kwargs):
        """Rows inserted at once get their place in the tree too (``place_messages``)."""
        objs = list(objs)
        place_messages(objs)
        return super().bulk_create(objs, *args, **kwargs)


class Message(models.Model):
    """One turn of a conversation; assistant replies also carry their model and usage."""

    class Role(models.TextChoices):
        SYSTEM = "system"
        USER = "user"
        ASSISTANT = "assistant"

    class Status(models.TextChoices):
        COMPLETE = "complete"
        STREAMING = "streaming"
        FAILED = "failed"
        CANCELLED = "cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.ForeignKey(ChatSession, on_delete=models.CASCADE, related_name="messages")
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="children",
        help_text="The message this one follows; none for a conversation's first message.",
    )
    sequence = models.PositiveIntegerField(
        help_text="Creation order within the session, never renumbered."
    )
    # Set when the message is added (place_messages), never changed: a branch is paged by
    # depth, and its ancestor at any depth reached by jumps in a few steps.
    depth = models.PositiveIntegerField(
        help_text="Messages above this one on its branch: 0 for a conversation's first."
    )
    jump = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        editable=False,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="An ancestor further up (its depth a function of this one's): none for "
        "a conversation's first message.",
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    token_count = models.PositiveIntegerField(
        default=0, help_text="Tokens of the content in the model's vocabulary, counted once."
    )
    model = models.CharField(max_length=100, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    cached_tokens = models.PositiveIntegerField(
        null=True, blank=True, help_text="Prompt tokens the upstream served from its cache."
    )
    first_token_ms = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Milliseconds from the upstream request to the first token.",
    )
    total_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="Milliseconds from the upstream request to the last token."
    )
    flagged = models.BooleanField(default=False)
    flag_categories = models.JSONField(default=list, blank=True)
    moderation_failed = models.BooleanField(
        default=False, help_text="The automatic moderation check could not run."
    )
    hidden = models.BooleanField(default=False, help_text="Hidden by a moderator.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    # Not a column: set by selectors.with_sibling_ids for the payload (this message's
    # branch siblings, itself included, as strings).
    sibling_ids: list[str]
    # Not a column: set by attachments.selectors.with_attached_files (the message's files,
    # read beforehand for a page).
    attached_files: list[StoredFile]

    objects = MessageQuerySet.as_manager()

    class Meta:
        ordering = ["session", "sequence"]
        permissions = [
            ("hide_message", "Can hide and unhide messages"),
            ("flag_message", "Can flag and unflag messages"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "sequence"], name="message_session_sequence"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["complete", "streaming", "failed", "cancelled"]),
                name="message_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(role__in=["system", "user", "assistant"]), name="message_role_valid"
            ),
        ]
        indexes = [
            models.Index(
                fields=["status", "updated_at"],
                condition=Q(status="streaming"),
                name="message_streaming",
            ),
            # Usage figures are summed over replies by day (usage.selectors).
            models.Index(
                fields=["created_at"], condition=Q(role="assistant"), name="message_reply_created"
            ),
            # The siblings of a first message (selectors.with_sibling_ids), without reading
            # the rest of its conversation.
            models.Index(
                fields=["session"], condition=Q(parent__isnull=True), name="message_session_roots"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role} #{self.sequence}"

    def save(self, *args, **kwargs) -> None:
        if self._state.adding and self.depth is None:
            place_messages([self])
        super().save(*args, **kwargs)

    @property
    def is_final(self) -> bool:
        return self.status != self.Status.STREAMING


def place_messages(messages: list[Message]) -> None:
    """Set ``depth`` and ``jump`` of the new ``messages`` that have none, from their
    parents (earlier in ``messages``, or stored). A stored parent costs one query, which
    also reads the jumps a turn's two messages can need."""
    batch = {message.pk: message for message in messages}
    known: dict = {}  # id -> (depth, jump id)

    def place(message: Message) -> None:
        if message.parent_id is None:
            message.depth, message.jump_id = 0, None
            return
        depth, jump_id = located(message.parent_id)
        message.depth = depth + 1
        if jump_depth(message.depth) == depth:
            message.jump_id = message.parent_id
        else:
            # The parent's jump and its jump span as much as parent to jump: skip both.
            message.jump_id = located(jump_id)[1]

    def located(pk) -> tuple[int, Any]:
        if pk not in known:
            message = batch.get(pk)
            if message is None:
                known.update(_stored_places(pk))
            else:
                if message.depth is None:
                    place(message)
                known[pk] = (message.depth, message.jump_id)
        return known[pk]

    for message in messages:
        if message.depth is None:
            place(message)


def _stored_places(pk) -> dict:
    """The depth and jump of a stored message, of its jump and of its jump's jump."""
    depth, *chain = (
        Message.objects.filter(pk=pk)
        .values_list("depth", "jump", "jump__jump", "jump__jump__jump")
        .get()
    )
    places = {}
    for node, up in zip([pk, *chain], chain, strict=False):
        if node is None:
            break
        places[node] = (depth, up)
        # None only past a first message, whose jump (the next node) is None too.
        depth = jump_depth(depth) or 0
    return places


class IdempotencyKey(models.Model):
    """A client's ``Idempotency-Key`` for one send: a retry returns the first turn."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    user_message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_user_key"),
        ]

    def __str__(self) -> str:
        return self.key
