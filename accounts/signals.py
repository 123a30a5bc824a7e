"""Ending a user's access wherever it changes: sign-out, a new password, deactivation or
suspension, whether through allauth, Django admin, a shell or any other save of the user."""

from __future__ import annotations

from allauth.account.signals import user_logged_in as allauth_user_logged_in
from allauth.mfa.signals import authenticator_added, authenticator_removed
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import is_password_usable
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from accounts import policy, services
from accounts.middleware import MFA_ENROLMENT_SESSION_KEY
from conversations import services as conversation_services

User = get_user_model()


@receiver(user_logged_out)
def close_sockets_of_signed_out_session(sender, request, user, **kwargs) -> None:
    session_key = request.session.session_key if request is not None else None
    if user is not None and session_key:
        conversation_services.close_sockets(
            user_id=user.pk, ending="signed out", session_key=session_key
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
        conversation_services.close_sockets_on_commit(user_id=instance.pk, ending="deactivated")
    elif "suspended" in changes:
        conversation_services.close_sockets_on_commit(user_id=instance.pk, ending="suspended")
    if "deactivated" in changes or "suspended" in changes:
        transaction.on_commit(lambda: services.end_all_browser_sessions(user=instance))


def _note_enrolment(request, user) -> None:
    if request is None or not hasattr(request, "session"):
        return
    if policy.must_enrol(user):
        request.session[MFA_ENROLMENT_SESSION_KEY] = True
    else:
        request.session.pop(MFA_ENROLMENT_SESSION_KEY, None)


@receiver(allauth_user_logged_in)
def apply_sign_in_policy(sender, request, user, sociallogin=None, **kwargs) -> None:
    """At each sign-in: the two-factor set-up the policy asks for, and the groups the
    identity provider says the user is in."""
    _note_enrolment(request, user)
    if sociallogin is not None:
        data = sociallogin.account.extra_data or {}
        claim_name = settings.CHATBOT_OIDC_GROUPS_CLAIM
        for part in ("userinfo", "id_token"):
            if claim_name in (data.get(part) or {}):
                services.sync_groups_from_claim(user=user, claim=data[part][claim_name])
                break


@receiver(authenticator_added)
@receiver(authenticator_removed)
def recheck_enrolment(sender, request, user, **kwargs) -> None:
    _note_enrolment(request, user)
