"""The user: Django's user plus what the chat needs to know about them."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

CUSTOM_INSTRUCTIONS_MAX_CHARS = 4000


class User(AbstractUser):
    """A person who chats; moderators and admins are users too (staff)."""

    custom_instructions = models.TextField(
        blank=True,
        max_length=CUSTOM_INSTRUCTIONS_MAX_CHARS,
        help_text="Added to the system prompt of every conversation of this user.",
    )
    chat_suspended = models.BooleanField(
        default=False,
        help_text="A suspended user can log in and read, but cannot send messages.",
    )

    class Theme(models.TextChoices):
        SYSTEM = "system", _("Same as the system")
        LIGHT = "light", _("Light")
        DARK = "dark", _("Dark")

    theme = models.CharField(max_length=6, choices=Theme.choices, default=Theme.SYSTEM)
    language = models.CharField(
        max_length=8,
        blank=True,
        choices=settings.LANGUAGES,
        help_text="Empty: the language the browser asks for.",
    )

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        permissions = [("suspend_user", "Can suspend and restore chat access")]
