from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts.models import User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "is_active", "is_staff", "chat_suspended", "date_joined")
    list_filter = ("is_active", "is_staff", "chat_suspended")
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        ("Chat", {"fields": ("chat_suspended", "custom_instructions")}),
    )
