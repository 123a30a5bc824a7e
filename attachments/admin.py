"""Stored files in admin, read-only: their owner, type and size (never their bytes)."""

from django.contrib import admin

from attachments.models import StoredFile


@admin.register(StoredFile)
class StoredFileAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "kind", "content_type", "size", "created_at"]
    list_filter = ["kind", "content_type"]
    search_fields = ["name", "owner__username", "owner__email", "sha256"]
    list_select_related = ["owner"]
    readonly_fields = [field.name for field in StoredFile._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
