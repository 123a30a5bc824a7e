"""Stored files in admin, read-only: their owner, type, size and messages, an image as a
thumbnail served to staff only (documents never: their text is what the model read)."""

from __future__ import annotations

from django.contrib import admin
from django.http import Http404, HttpRequest, StreamingHttpResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from attachments.api import DOWNLOAD_CSP, chunks_of
from attachments.models import MessageAttachment, StoredFile
from attachments.storage import file_storage

THUMBNAIL_PIXELS = 96


def thumbnail(file: StoredFile) -> str:
    """An image's thumbnail linking to the image (both through the staff-only view)."""
    if file.kind != StoredFile.Kind.IMAGE:
        return "-"
    url = reverse("admin:attachments_storedfile_image", args=[file.pk])
    return format_html(
        '<a href="{}"><img src="{}" alt="{}" height="{}" loading="lazy"></a>',
        url,
        url,
        file.name,
        THUMBNAIL_PIXELS,
    )


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(StoredFile)
class StoredFileAdmin(ReadOnlyAdmin):
    list_display = ["name", "preview", "owner", "kind", "content_type", "size", "created_at"]
    list_filter = ["kind", "content_type"]
    search_fields = ["name", "owner__username", "owner__email", "sha256"]
    list_select_related = ["owner"]
    readonly_fields = ["preview", "messages", *(field.name for field in StoredFile._meta.fields)]

    def get_urls(self):
        image = self.admin_site.admin_view(self.image_view)
        return [
            path("<uuid:file_id>/image/", image, name="attachments_storedfile_image"),
            *super().get_urls(),
        ]

    def image_view(self, request: HttpRequest, file_id) -> StreamingHttpResponse:
        """The image itself for staff who may see files; no document, nobody else (admin
        sends others to its login), and never run: nosniff and a sandbox CSP as downloads."""
        if not self.has_view_permission(request):
            raise Http404("File not found.")
        stored = StoredFile.objects.filter(pk=file_id, kind=StoredFile.Kind.IMAGE).first()
        if stored is None:
            raise Http404("File not found.")
        response = StreamingHttpResponse(
            chunks_of(file_storage().open(stored.key, "rb")), content_type=stored.content_type
        )
        response["Content-Length"] = str(stored.size)
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = DOWNLOAD_CSP
        response["Cache-Control"] = "private, no-cache"
        return response

    @admin.display(description="image")
    def preview(self, file: StoredFile) -> str:
        return thumbnail(file)

    @admin.display(description="attached to")
    def messages(self, file: StoredFile) -> str:
        links = file.links.order_by("message_id")
        return (
            format_html_join(
                ", ",
                '<a href="{}">message {}</a>',
                (
                    (
                        reverse("admin:conversations_message_change", args=[link.message_id]),
                        link.message_id,
                    )
                    for link in links
                ),
            )
            or "-"
        )


@admin.register(MessageAttachment)
class MessageAttachmentAdmin(ReadOnlyAdmin):
    list_display = ["file", "preview", "message_link", "owner", "kind", "size"]
    list_filter = ["file__kind"]
    search_fields = ["file__name", "file__owner__username"]
    list_select_related = ["file", "file__owner"]
    fields = readonly_fields = ("file", "preview", "message_link", "position")

    def has_delete_permission(self, request, obj=None) -> bool:
        # A link goes with its message (and hiding the message hides the file).
        return False

    @admin.display(description="image")
    def preview(self, link: MessageAttachment) -> str:
        return thumbnail(link.file)

    @admin.display(description="message", ordering="message")
    def message_link(self, link: MessageAttachment) -> str:
        url = reverse("admin:conversations_message_change", args=[link.message_id])
        return format_html('<a href="{}">message {}</a>', url, link.message_id)

    @admin.display(description="owner", ordering="file__owner")
    def owner(self, link: MessageAttachment):
        return link.file.owner

    @admin.display(description="kind", ordering="file__kind")
    def kind(self, link: MessageAttachment) -> str:
        return link.file.kind

    @admin.display(description="size", ordering="file__size")
    def size(self, link: MessageAttachment) -> int:
        return link.file.size


class MessageAttachmentInline(admin.TabularInline):
    """A message's files on its admin page (for ``conversations.admin.MessageAdmin``)."""

    model = MessageAttachment
    fields = readonly_fields = ("position", "name", "preview", "kind", "content_type", "size")
    ordering = ["position"]
    extra = 0
    can_delete = False

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("file")

    @admin.display(description="name")
    def name(self, link: MessageAttachment) -> str:
        url = reverse("admin:attachments_storedfile_change", args=[link.file_id])
        return format_html('<a href="{}">{}</a>', url, link.file.name)

    @admin.display(description="image")
    def preview(self, link: MessageAttachment) -> str:
        return thumbnail(link.file)

    @admin.display(description="kind")
    def kind(self, link: MessageAttachment) -> str:
        return link.file.kind

    @admin.display(description="type")
    def content_type(self, link: MessageAttachment) -> str:
        return link.file.content_type

    @admin.display(description="size")
    def size(self, link: MessageAttachment) -> int:
        return link.file.size

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
