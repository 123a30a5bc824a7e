"""allauth's login form, refusing passwords where single sign-on is the only way in."""

from __future__ import annotations

from allauth.account.forms import LoginForm
from django import forms
from django.utils.translation import gettext_lazy as _

from accounts import policy
from accounts.models import User


class PolicyLoginForm(LoginForm):
    """With ``CHATBOT_SSO_ONLY`` only the break-glass superuser signs in with a password."""

    user: User | None  # set by allauth's clean()

    def clean(self):
        cleaned_data = super().clean()
        if self.user is not None and not policy.password_sign_in_allowed(self.user):
            self.user = None
            raise forms.ValidationError(
                _("Password sign-in is turned off. Sign in with your organisation's account.")
            )
        return cleaned_data
