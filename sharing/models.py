"""Share links with their snapshots, imported conversations' sources, and feedback on replies."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from conversations.models import ChatSession, Message


class SharedConversation(models.Model):
    """A read-only snapshot of a conversation, readable by anyone holding its token."""

    session = models.OneToOneField(ChatSession, on_delete=models.CASCADE, related_name="share")
    token = models.CharField(max_length=64, unique=True, editable=False)
    title = models.CharField(max_length=255, blank=True)
    model = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(
        default=timezone.now, help_text="When the snapshot was taken."
    )

    class Meta:
        verbose_name = "share link"

    def __str__(self) -> str:
        return self.title or "Shared chat"


class SharedMessage(models.Model):
    """One message of a snapshot, copied so that later edits of the chat do not show."""

    share = models.ForeignKey(SharedConversation, on_delete=models.CASCADE, related_name="messages")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField()
    role = models.CharField(max_length=16, choices=Message.Role.choices)
    content = models.TextField()
    token_count = models.PositiveIntegerField(default=0)
    model = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["share", "position"]
        constraints = [
            models.UniqueConstraint(fields=["share", "position"], name="shared_message_position"),
        ]

    def __str__(self) -> str:
        return f"{self.role} #{self.position}"


class ImportedConversation(models.Model):
    """Where an imported conversation came from, so that importing it again adds nothing."""

    class Source(models.TextChoices):
        CHATGPT = "chatgpt"
        CHATBOT = "chatbot"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    session = models.OneToOneField(
        ChatSession, on_delete=models.CASCADE, related_name="import_source"
    )
    source = models.CharField(max_length=16, choices=Source.choices)
    source_id = models.CharField(max_length=255)
    imported_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "source", "source_id"], name="imported_conversation_source"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.source_id}"


class MessageFeedback(models.Model):
    """A user's thumbs up or down (and optional comment) on an assistant reply."""

    class Rating(models.TextChoices):
        UP = "up"
        DOWN = "down"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="feedback")
    rating = models.CharField(max_length=4, choices=Rating.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "message feedback"
        constraints = [
            models.UniqueConstraint(fields=["user", "message"], name="feedback_user_message"),
            models.CheckConstraint(condition=Q(rating__in=["up", "down"]), name="feedback_rating"),
        ]

    def __str__(self) -> str:
        return f"{self.rating} on {self.message_id}"
