"""Moderation in Django admin: read conversations and messages, hide and flag, export.

Admin only reads here; every change goes through ``conversations.moderation`` so it is
logged. Content is never editable, not even by superusers: a moderator's tool must not be
able to put words in a user's mouth.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, TypedDict

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.text import Truncator
from django.utils.translation import ngettext

from attachments.admin import MessageAttachmentInline
from conversations import moderation
from conversations.models import ChatSession, Message

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

EXCERPT_CHARS = 120


def _excerpt(message: Message) -> str:
    return Truncator(message.content).chars(EXCERPT_CHARS)


def _categories(message: Message) -> str:
    return ", ".join(str(category) for category in message.flag_categories or []) or "-"


def _messages(number: int) -> str:
    return ngettext("%d message", "%d messages", number) % number


# A branch level is shown with spaces and an arrow: plain text, so admin escapes it and
# the CSP needs no inline style.
INDENT = "\u2003"


class _Tree(TypedDict):
    levels: dict[uuid.UUID | None, int]
    current: set[uuid.UUID]


def _tree(session_id, current_id) -> _Tree:
    """Each message's branch level (a message that is not the first answer or edit of its
    parent opens a branch, one step in) and whether it is on the current branch: one query."""
    rows = Message.objects.filter(session_id=session_id).order_by("sequence")
    parents: dict[uuid.UUID, uuid.UUID | None] = {}
    levels: dict[uuid.UUID | None, int] = {}
    has_child: set[uuid.UUID | None] = set()
    # In creation order a parent always comes before its children.
    for message_id, parent_id in rows.values_list("pk", "parent_id"):
        parents[message_id] = parent_id
        opens_branch = parent_id in has_child
        has_child.add(parent_id)
        levels[message_id] = levels.get(parent_id, 0) + opens_branch
    current: set[uuid.UUID] = set()
    node = current_id
    while node is not None:
        current.add(node)
        node = parents.get(node)
    return {"levels": levels, "current": current}


class MessageInline(admin.TabularInline):
    """The conversation's messages in order, read-only."""

    model = Message
    fields = (
        "sequence",
        "branch",
        "parent_sequence",
        "role",
        "status",
        "excerpt",
        "flagged",
        "categories",
        "moderation_failed",
        "hidden",
        "created_at",
    )
    readonly_fields = fields
    ordering = ("sequence",)
    extra = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[Message]:
        return super().get_queryset(request).select_related("parent")

    def get_formset(self, request: HttpRequest, obj=None, **kwargs):
        # Admin makes inline instances per request: the tree is read once for the page.
        self.tree: _Tree | None = _tree(obj.pk, obj.current_message_id) if obj is not None else None
        return super().get_formset(request, obj, **kwargs)

    @admin.display(description="branch")
    def branch(self, message: Message) -> str:
        """Indented by branch level; the current branch (what the user sees and the
        model reads) marked, and so is a hidden message on any branch."""
        tree = self.tree
        # Rows are shown only on a conversation's page, whose formset read its tree.
        assert tree is not None
        marks = []
        if message.pk in tree["current"]:
            marks.append("current")
        if message.hidden:
            marks.append("hidden")
        level = tree["levels"].get(message.pk, 0)
        arrow = "\u21b3 " if level else ""
        return f"{INDENT * level}{arrow}{' '.join(marks) or '-'}"

    @admin.display(description="reply to")
    def parent_sequence(self, message: Message) -> str:
        return f"#{message.parent.sequence}" if message.parent is not None else "-"

    @admin.display(description="content")
    def excerpt(self, message: Message) -> str:
        return _excerpt(message)

    @admin.display(description="flag categories")
    def categories(self, message: Message) -> str:
        return _categories(message)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class OwnerActiveFilter(admin.SimpleListFilter):
    title = "owner active"
    parameter_name = "owner_active"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() in {"yes", "no"}:
            return queryset.filter(user__is_active=self.value() == "yes")
        return queryset


class _MessageCount(TypedDict):
    message_count: int


@admin.register(ChatSession)
class ChatSessionAdmin(admin.ModelAdmin):
    list_display = ("__str__", "user", "message_count", "created_at", "updated_at", "flagged")
    list_filter = ("flagged", "created_at", "updated_at", OwnerActiveFilter)
    list_select_related = ("user",)
    search_fields = ("title", "user__username", "user__email", "messages__content")
    ordering = ("-created_at", "-id")
    fields = (
        "title",
        "user",
        "model",
        "instructions",
        "flagged",
        "message_count",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    inlines = [MessageInline]
    actions = ["export_json"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ChatSession]:
        # One aggregate in the list's query instead of one count per row.
        return super().get_queryset(request).annotate(message_count=Count("messages"))

    @admin.display(description="messages", ordering="message_count")
    def message_count(self, session: WithAnnotations[ChatSession, _MessageCount]) -> int:
        return session.message_count

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.action(description="Export selected conversations as JSON", permissions=["view"])
    def export_json(self, request: HttpRequest, queryset: QuerySet[ChatSession]) -> JsonResponse:
        exported_at = timezone.now()
        sessions = moderation.export_sessions(moderator=request.user, sessions=queryset)
        response = JsonResponse(
            {"exportedAt": exported_at.isoformat(), "conversations": sessions},
            json_dumps_params={"indent": 2},
        )
        stamp = exported_at.strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="conversations-{stamp}.json"'
        return response


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "session",
        "session__user",
        "role",
        "status",
        "excerpt",
        "flagged",
        "hidden",
        "created_at",
    )
    list_filter = ("role", "status", "flagged", "hidden", "moderation_failed")
    list_select_related = ("session", "session__user")
    search_fields = ("content", "session__title", "session__user__username")
    ordering = ("-created_at", "-id")
    inlines = [MessageAttachmentInline]  # its files, images as staff-only thumbnails
    fields = (
        "session",
        "sequence",
        "parent",
        "role",
        "status",
        "content",
        "flagged",
        "categories",
        "moderation_failed",
        "hidden",
        "model",
        "token_count",
        "prompt_tokens",
        "completion_tokens",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    actions = ["hide", "unhide", "flag", "unflag"]

    @admin.display(description="content")
    def excerpt(self, message: Message) -> str:
        return _excerpt(message)

    @admin.display(description="flag categories")
    def categories(self, message: Message) -> str:
        return _categories(message)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # Deleting would break the conversation's sequence; hiding is the moderator's tool.
        return False

    def has_hide_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("conversations.hide_message")

    def has_flag_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("conversations.flag_message")

    @admin.action(description="Hide selected messages", permissions=["hide"])
    def hide(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        changed = moderation.hide_messages(moderator=request.user, messages=queryset)
        self.message_user(request, f"{_messages(changed)} hidden.")

    @admin.action(description="Unhide selected messages", permissions=["hide"])
    def unhide(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        changed = moderation.unhide_messages(moderator=request.user, messages=queryset)
        self.message_user(request, f"{_messages(changed)} shown again.")

    @admin.action(description="Flag selected messages for review", permissions=["flag"])
    def flag(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        changed = moderation.flag_messages(moderator=request.user, messages=queryset)
        self.message_user(request, f"{_messages(changed)} flagged.")

    @admin.action(description="Clear the flag of selected messages", permissions=["flag"])
    def unflag(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        changed = moderation.unflag_messages(moderator=request.user, messages=queryset)
        self.message_user(request, f"{_messages(changed)} unflagged.")
