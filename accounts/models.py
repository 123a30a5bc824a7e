"""The user: Django's user plus what the chat needs to know about them."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A person who chats; moderators and admins are users too (staff)."""

    custom_instructions = models.TextField(
        blank=True,
        max_length=4000,
        help_text="Added to the system prompt of every conversation of this user.",
    )
    chat_suspended = models.BooleanField(
        default=False,
        help_text="A suspended user can log in and read, but cannot send messages.",
    )

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        permissions = [("suspend_user", "Can suspend and restore chat access")]
