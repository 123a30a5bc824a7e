"""The sign-in policy asked directly, the cases mutation testing found unchecked: each value
of ``CHATBOT_REQUIRE_MFA`` for plain, staff and superuser accounts, which authenticators
count as a second factor (and whose), and the exact sentence of each token refusal."""

from __future__ import annotations

import pytest
from allauth.mfa.models import Authenticator

from accounts import policy
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SSO_REFUSAL = (
    "Password sign-in is turned off: this site signs in through your organisation. "
    "Create an API token in Settings instead."
)
MFA_REFUSAL = (
    "This account signs in with two-factor authentication, which a password alone "
    "cannot pass. Create an API token in Settings instead."
)

KINDS = {
    "plain": {},
    "staff": {"is_staff": True},
    "superuser": {"is_superuser": True},
    "staff superuser": {"is_staff": True, "is_superuser": True},
}


def add_factor(user, kind) -> Authenticator:
    return Authenticator.objects.create(user=user, type=kind, data={})


@pytest.mark.parametrize(
    ("setting", "covered"),
    [
        ("off", set()),
        ("staff", {"staff", "superuser", "staff superuser"}),
        ("all", {"plain", "staff", "superuser", "staff superuser"}),
    ],
)
def test_each_mfa_policy_covers_exactly_its_accounts(settings, setting, covered):
    settings.CHATBOT_REQUIRE_MFA = setting
    result = {
        kind
        for kind, fields in KINDS.items()
        if policy.mfa_required_by_policy(UserFactory(**fields))
    }
    assert result == covered


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        ((), False),
        ((Authenticator.Type.TOTP,), True),
        ((Authenticator.Type.WEBAUTHN,), True),
        ((Authenticator.Type.RECOVERY_CODES,), False),
        ((Authenticator.Type.RECOVERY_CODES, Authenticator.Type.WEBAUTHN), True),
    ],
)
def test_only_an_app_or_a_passkey_is_a_second_factor(user, kinds, expected):
    for kind in kinds:
        add_factor(user, kind)
    assert policy.has_second_factor(user) is expected


def test_another_users_second_factor_is_not_this_users(user, other_user):
    add_factor(other_user, Authenticator.Type.TOTP)
    add_factor(other_user, Authenticator.Type.WEBAUTHN)
    assert policy.has_second_factor(user) is False
    assert policy.has_second_factor(other_user) is True


@pytest.mark.parametrize(
    ("setting", "factor", "expected"),
    [
        ("all", None, True),
        ("all", Authenticator.Type.TOTP, False),
        ("all", Authenticator.Type.RECOVERY_CODES, True),
        ("off", None, False),
        ("staff", None, False),
    ],
)
def test_must_enrol_when_covered_and_without_a_second_factor(
    user, settings, setting, factor, expected
):
    settings.CHATBOT_REQUIRE_MFA = setting
    if factor:
        add_factor(user, factor)
    assert policy.must_enrol(user) is expected


@pytest.mark.parametrize(
    ("sso_only", "kind", "allowed"),
    [
        (False, "plain", True),
        (False, "staff", True),
        (True, "plain", False),
        (True, "staff", False),
        (True, "superuser", True),
        (True, "staff superuser", True),
    ],
)
def test_password_sign_in_under_sso_only_is_the_superusers_alone(settings, sso_only, kind, allowed):
    settings.CHATBOT_SSO_ONLY = sso_only
    assert policy.password_sign_in_allowed(UserFactory(**KINDS[kind])) is allowed


def test_a_password_gets_a_token_when_nothing_stands_in_the_way(user, settings):
    settings.CHATBOT_SSO_ONLY = False
    settings.CHATBOT_REQUIRE_MFA = "staff"
    assert policy.token_refusal(user) is None


def test_sso_only_refuses_a_token_with_its_own_sentence_before_two_factor(user, settings):
    settings.CHATBOT_SSO_ONLY = True
    settings.CHATBOT_REQUIRE_MFA = "all"
    assert policy.token_refusal(user) == SSO_REFUSAL


@pytest.mark.parametrize(("setting", "factor"), [("all", None), ("off", Authenticator.Type.TOTP)])
def test_two_factor_by_policy_or_by_choice_refuses_a_token(user, settings, setting, factor):
    settings.CHATBOT_REQUIRE_MFA = setting
    if factor:
        add_factor(user, factor)
    assert policy.token_refusal(user) == MFA_REFUSAL


def test_a_superuser_under_sso_only_is_refused_for_two_factor_only(settings):
    settings.CHATBOT_SSO_ONLY = True
    superuser = UserFactory(is_staff=True, is_superuser=True)
    assert policy.token_refusal(superuser) is None
    settings.CHATBOT_REQUIRE_MFA = "staff"
    assert policy.token_refusal(superuser) == MFA_REFUSAL
