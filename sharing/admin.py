"""Share links and reply feedback for moderators: read, and revoke a link (delete)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from sharing.models import MessageFeedback, SharedConversation, SharedMessage


class SharedMessageInline(admin.TabularInline):
    model = SharedMessage
    fields = ("position", "role", "content")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(SharedConversation)
class SharedConversationAdmin(admin.ModelAdmin):
    """Deleting a share link revokes it: its page answers 404 at once."""

    list_display = ("__str__", "session", "session__user", "page", "created_at", "updated_at")
    list_select_related = ("session", "session__user")
    search_fields = ("title", "token", "session__user__username")
    ordering = ("-updated_at",)
    fields = ("session", "title", "model", "page", "created_at", "updated_at")
    readonly_fields = fields
    inlines = [SharedMessageInline]

    @admin.display(description="page")
    def page(self, share: SharedConversation) -> str:
        url = reverse("shared", kwargs={"token": share.token})
        return format_html('<a href="{}" rel="noreferrer">{}</a>', url, url)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(MessageFeedback)
class MessageFeedbackAdmin(admin.ModelAdmin):
    list_display = (
        "rating",
        "reply",
        "conversation",
        "message__model",
        "comment_excerpt",
        "user",
        "updated_at",
    )
    list_filter = ("rating", "message__model", "updated_at")
    list_select_related = ("message", "message__session", "user")
    search_fields = ("comment", "user__username")
    ordering = ("-updated_at",)
    fields = ("rating", "comment", "reply", "conversation", "user", "created_at", "updated_at")
    readonly_fields = fields

    @admin.display(description="reply")
    def reply(self, feedback: MessageFeedback) -> str:
        url = reverse("admin:conversations_message_change", args=[feedback.message_id])
        return format_html('<a href="{}">{}</a>', url, feedback.message)

    @admin.display(description="conversation")
    def conversation(self, feedback: MessageFeedback) -> str:
        session = feedback.message.session
        url = reverse("admin:conversations_chatsession_change", args=[session.pk])
        return format_html('<a href="{}">{}</a>', url, session)

    @admin.display(description="comment")
    def comment_excerpt(self, feedback: MessageFeedback) -> str:
        return Truncator(feedback.comment).chars(120)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
