"""Ending a user's access wherever it changes: sign-out, a new password, deactivation or
suspension, whether through allauth, Django admin, a shell or any other save of the user."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import is_password_usable
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from accounts import services
from conversations import events

User = get_user_model()


@receiver(user_logged_out)
def close_sockets_of_signed_out_session(sender, request, user, **kwargs) -> None:
    session_key = request.session.session_key if request is not None else None
    if user is not None and session_key:
        events.close_sockets(
            user.pk, code=events.SIGNED_OUT, reason="signed out", session_key=session_key
        )


def _saves(update_fields, field: str) -> bool:
    return update_fields is None or field in update_fields


@receiver(pre_save, sender=User)
def note_access_changes(sender, instance, update_fields, **kwargs) -> None:
    """Which of password, activity and suspension this save changes (read before it writes;
    a query only when one of them may change)."""
    instance._access_changes = ()
    if instance._state.adding:
        return
    # set_password() keeps the raw password in ``_password`` until the save; a hash upgrade
    # at login clears it first. Django's password validators tell changes apart the same way.
    password_set = instance._password is not None
    deactivating = not instance.is_active and _saves(update_fields, "is_active")
    suspending = instance.chat_suspended and _saves(update_fields, "chat_suspended")
    if not (password_set or deactivating or suspending):
        return
    before = (
        User.objects.filter(pk=instance.pk)
        .values("password", "is_active", "chat_suspended")
        .first()
    )
    if before is None:
        return
    changes = []
    # A first password (none, or unusable before) replaces nothing anyone could know.
    if password_set and before["password"] and is_password_usable(before["password"]):
        changes.append("password")
    if deactivating and before["is_active"]:
        changes.append("deactivated")
    if suspending and not before["chat_suspended"]:
        changes.append("suspended")
    instance._access_changes = tuple(changes)


@receiver(post_save, sender=User)
def end_access_on_change(sender, instance, **kwargs) -> None:
    changes = instance.__dict__.pop("_access_changes", ())
    if "password" in changes:
        services.end_access_after_password_change(user=instance)
    if "deactivated" in changes:
        events.close_sockets_on_commit(instance.pk, code=events.ACCESS_ENDED, reason="deactivated")
    elif "suspended" in changes:
        events.close_sockets_on_commit(instance.pk, code=events.ACCESS_ENDED, reason="suspended")
