"""The account forms and allauth adapters, the cases mutation testing found unchecked: the
language choices offered, the password confirming a deletion, the login form's refusal
under single sign-on with its sentence, sign-up open or closed, and which second factor
may be removed while the policy requires one."""

from __future__ import annotations

import pytest
from allauth.mfa.models import Authenticator
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory

from accounts.adapters import AccountAdapter, MFAAdapter, SocialAccountAdapter
from accounts.auth_forms import PolicyLoginForm
from accounts.forms import DeleteAccountForm, PreferencesForm
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

SSO_ONLY = "Password sign-in is turned off. Sign in with your organisation's account."


def test_the_language_choices_start_with_the_browsers_and_have_no_help_text(user):
    form = PreferencesForm(instance=user)
    assert [(value, str(label)) for value, label in form.fields["language"].choices] == [
        ("", "Same as the browser"),
        ("en", "English"),
        ("de", "Deutsch"),
        ("fr", "Français"),
        ("es", "Español"),
    ]
    assert form.fields["language"].help_text == ""


def test_preferences_from_the_lists_are_valid_and_others_not(user):
    assert PreferencesForm({"theme": "dark", "language": ""}, instance=user).is_valid()
    form = PreferencesForm({"theme": "dark", "language": "it"}, instance=user)
    assert not form.is_valid() and list(form.errors) == ["language"]


def test_the_forms_take_djangos_keyword_arguments(user):
    preferences = PreferencesForm(data={"theme": "light", "language": "fr"}, instance=user)
    assert preferences.is_valid()
    assert preferences.save().language == "fr"
    deleting = DeleteAccountForm(data={"password": PASSWORD}, user=user, prefix="delete")
    assert not deleting.is_valid()  # the prefixed field was not sent
    deleting = DeleteAccountForm(data={"delete-password": PASSWORD}, user=user, prefix="delete")
    assert deleting.is_valid()


def test_deleting_needs_the_accounts_own_password(user):
    form = DeleteAccountForm({"password": PASSWORD}, user=user)
    assert form.is_valid()
    assert form.cleaned_data == {"password": PASSWORD}
    wrong = DeleteAccountForm({"password": "not it"}, user=user)
    assert not wrong.is_valid()
    assert wrong.errors == {"password": ["That is not your password."]}
    other = DeleteAccountForm({"password": PASSWORD}, user=UserFactory(password="Other-pass-99"))
    assert not other.is_valid()


def login_form(user, password: str = PASSWORD) -> PolicyLoginForm:
    request = RequestFactory().post("/accounts/login/")
    request.session = SessionStore()
    request.user = user
    return PolicyLoginForm(data={"login": user.username, "password": password}, request=request)


@pytest.mark.parametrize(
    ("sso_only", "fields", "valid"),
    [
        (False, {}, True),
        (True, {}, False),
        (True, {"is_staff": True}, False),
        (True, {"is_superuser": True}, True),
    ],
)
def test_the_login_form_refuses_passwords_under_sso_only_but_the_superusers(
    settings, sso_only, fields, valid
):
    settings.CHATBOT_SSO_ONLY = sso_only
    user = UserFactory(**fields)
    form = login_form(user)
    assert form.is_valid() is valid
    if valid:
        assert form.user == user
    else:
        assert form.non_field_errors() == [SSO_ONLY]
        assert form.user is None


def test_a_wrong_password_gets_allauths_refusal_not_the_sso_sentence(user, settings):
    settings.CHATBOT_SSO_ONLY = True
    form = login_form(user, "wrong")
    assert not form.is_valid()
    assert SSO_ONLY not in form.non_field_errors()
    assert form.user is None


@pytest.mark.parametrize("sso_only", [False, True])
def test_password_sign_up_closes_under_sso_only_and_providers_stay_open(settings, sso_only):
    settings.CHATBOT_SSO_ONLY = sso_only
    request = RequestFactory().get("/accounts/signup/")
    assert AccountAdapter(request).is_open_for_signup(request) is (not sso_only)
    assert SocialAccountAdapter(request).is_open_for_signup(request, None) is True


def factor(user, kind) -> Authenticator:
    return Authenticator.objects.create(user=user, type=kind, data={})


@pytest.mark.parametrize(
    ("setting", "kinds", "removed", "allowed"),
    [
        ("all", ["totp"], "totp", False),
        ("all", ["webauthn"], "webauthn", False),
        ("all", ["totp", "recovery_codes"], "totp", False),
        ("all", ["totp", "recovery_codes"], "recovery_codes", True),
        ("all", ["totp", "webauthn"], "totp", True),
        ("all", ["webauthn", "totp"], "webauthn", True),
        ("off", ["totp"], "totp", True),
        ("staff", ["totp"], "totp", True),
    ],
)
def test_the_last_second_factor_stays_while_the_policy_requires_one(
    user, settings, setting, kinds, removed, allowed
):
    settings.CHATBOT_REQUIRE_MFA = setting
    made = {kind: factor(user, kind) for kind in kinds}
    factor(UserFactory(), "webauthn")  # another user's passkey is not this user's
    assert MFAAdapter().can_delete_authenticator(made[removed]) is allowed


def test_a_staff_members_last_factor_stays_under_the_staff_policy(settings):
    settings.CHATBOT_REQUIRE_MFA = "staff"
    staff = UserFactory(is_staff=True)
    assert MFAAdapter().can_delete_authenticator(factor(staff, "totp")) is False
