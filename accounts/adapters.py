"""allauth adapters: sign-up closed to passwords under single sign-on, providers still open,
and the last second factor kept while the policy requires one."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.http import HttpRequest

from accounts import policy


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return not settings.CHATBOT_SSO_ONLY


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin) -> bool:
        # The organisation's provider vouches for its people, also when passwords are off.
        return True


class MFAAdapter(DefaultMFAAdapter):
    def can_delete_authenticator(self, authenticator: Authenticator) -> bool:
        if authenticator.type not in policy.SECOND_FACTORS:
            return True
        user = authenticator.user
        if not policy.mfa_required_by_policy(user):
            return True
        others = Authenticator.objects.filter(
            user_id=user.pk, type__in=policy.SECOND_FACTORS
        ).exclude(pk=authenticator.pk)
        return others.exists()
