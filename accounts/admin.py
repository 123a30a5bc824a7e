"""Users in admin: full user admin for superusers, suspension for moderators.

The admin's own login form is replaced by allauth's (``secure_admin_login``), so the
admin gets allauth's rate limits on failed logins instead of unlimited guesses.
"""

from __future__ import annotations

from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import ngettext

from accounts import services
from accounts.models import User
from core.http import AuthenticatedHttpRequest

admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]

# What someone who may view users but not change them (a moderator) sees: no password
# hash, no groups or permissions.
VIEW_ONLY_FIELDSETS = (
    (None, {"fields": ("username", "email", "first_name", "last_name")}),
    ("Status", {"fields": ("is_active", "is_staff", "date_joined", "last_login")}),
    ("Chat", {"fields": ("chat_suspended", "custom_instructions")}),
)


def _users(number: int) -> str:
    return ngettext("%d user", "%d users", number) % number


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "is_active", "is_staff", "chat_suspended", "date_joined")
    list_filter = ("is_active", "is_staff", "chat_suspended")
    fieldsets = (
        *(DjangoUserAdmin.fieldsets or ()),
        ("Chat", {"fields": ("chat_suspended", "custom_instructions")}),
    )
    actions = ["suspend", "restore"]

    def get_fieldsets(self, request: HttpRequest, obj=None):
        if obj is not None and not self.has_change_permission(request, obj):
            return VIEW_ONLY_FIELDSETS
        return super().get_fieldsets(request, obj)

    def has_suspend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("accounts.suspend_user")

    @admin.action(description="Suspend chat access of selected users", permissions=["suspend"])
    def suspend(self, request: AuthenticatedHttpRequest, queryset: QuerySet[User]) -> None:
        changed = services.suspend_users(moderator=request.user, users=queryset)
        self.message_user(request, f"{_users(changed)} suspended; they can still log in and read.")

    @admin.action(description="Restore chat access of selected users", permissions=["suspend"])
    def restore(self, request: AuthenticatedHttpRequest, queryset: QuerySet[User]) -> None:
        changed = services.restore_users(moderator=request.user, users=queryset)
        self.message_user(request, f"{_users(changed)} restored.")
