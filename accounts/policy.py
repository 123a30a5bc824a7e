"""Who must use a second factor, and who may sign in with a password: one answer for the
login form, the enrolment middleware, the token endpoint and the MFA adapter."""

from __future__ import annotations

from typing import TYPE_CHECKING

from allauth.mfa.models import Authenticator
from django.conf import settings
from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from accounts.models import User

# Factors that are asked for at sign-in; recovery codes only stand in for them.
SECOND_FACTORS = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)


def mfa_required_by_policy(user: User) -> bool:
    """Whether ``CHATBOT_REQUIRE_MFA`` covers ``user`` (off, staff or all)."""
    policy = settings.CHATBOT_REQUIRE_MFA
    return policy == "all" or (policy == "staff" and (user.is_staff or user.is_superuser))


def has_second_factor(user: User) -> bool:
    return Authenticator.objects.filter(user_id=user.pk, type__in=SECOND_FACTORS).exists()


def must_enrol(user: User) -> bool:
    """Covered by the policy but without an authenticator app or passkey yet."""
    return mfa_required_by_policy(user) and not has_second_factor(user)


def password_sign_in_allowed(user: User) -> bool:
    """With ``CHATBOT_SSO_ONLY`` only a superuser (the break-glass account) uses a password."""
    return not settings.CHATBOT_SSO_ONLY or user.is_superuser


def token_refusal(user: User) -> str | None:
    """Why a username and password alone must not get ``user`` an API token, if they must not."""
    if not password_sign_in_allowed(user):
        return _(
            "Password sign-in is turned off: this site signs in through your organisation. "
            "Create an API token in Settings instead."
        )
    if mfa_required_by_policy(user) or has_second_factor(user):
        return _(
            "This account signs in with two-factor authentication, which a password alone "
            "cannot pass. Create an API token in Settings instead."
        )
    return None
