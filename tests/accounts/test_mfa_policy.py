"""Two-factor policy: who must enrol, what the token endpoint refuses, what Settings shows,
and that bad policy variables stop the start with the variable's name."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.test import Client

from accounts import services
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def client() -> Client:
    # A fresh address per test: allauth's login rate limits count per IP in a shared cache.
    return Client(REMOTE_ADDR=f"10.9.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}")


def sign_in(client: Client, user) -> str:
    response = client.post("/accounts/login/", {"login": user.username, "password": PASSWORD})
    assert response.status_code == 302
    return response["Location"]


def ask_token(user) -> object:
    return Client().post(
        "/api/auth/token",
        {"username": user.username, "password": PASSWORD},
        content_type="application/json",
    )


def test_token_endpoint_refuses_an_account_with_two_factor_and_points_to_settings(user):
    TOTP.activate(user, pyotp.random_base32())
    response = ask_token(user)
    assert response.status_code == 403
    assert "Settings" in response.json()["detail"]


def test_tokens_made_before_two_factor_keep_working(user):
    token = services.issue_token(user=user).token
    TOTP.activate(user, pyotp.random_base32())
    response = Client(headers={"Authorization": f"Bearer {token}"}).get("/api/auth/tokens")
    assert response.status_code == 200


def test_token_endpoint_refuses_an_account_the_policy_covers(user, settings):
    assert ask_token(user).status_code == 200
    settings.CHATBOT_REQUIRE_MFA = "all"
    response = ask_token(user)
    assert response.status_code == 403 and "two-factor" in response.json()["detail"]


def test_staff_policy_covers_staff_only(user, settings):
    settings.CHATBOT_REQUIRE_MFA = "staff"
    assert ask_token(user).status_code == 200
    assert ask_token(UserFactory(is_staff=True)).status_code == 403


def test_a_covered_user_is_sent_to_set_up_two_factor_and_the_api_says_why(client, user, settings):
    settings.CHATBOT_REQUIRE_MFA = "all"
    sign_in(client, user)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/accounts/2fa/"
    response = client.get("/api/chat/sessions")
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Set up two-factor authentication (an authenticator app or a passkey) "
        "before you continue.",
        "code": "mfa_required",
    }
    assert client.get("/accounts/2fa/").status_code == 200


def test_a_covered_user_with_two_factor_goes_straight_in(client, user, settings):
    settings.CHATBOT_REQUIRE_MFA = "all"
    secret = pyotp.random_base32()
    TOTP.activate(user, secret)
    assert sign_in(client, user) == "/accounts/2fa/authenticate/"
    client.post("/accounts/2fa/authenticate/", {"code": pyotp.TOTP(secret).now()})
    assert client.get("/").status_code == 200


def test_an_uncovered_user_is_not_asked(client, user):
    sign_in(client, user)
    assert client.get("/").status_code == 200


def test_the_last_authenticator_app_cannot_be_turned_off_while_required(client, user, settings):
    settings.CHATBOT_REQUIRE_MFA = "all"
    secret = pyotp.random_base32()
    TOTP.activate(user, secret)
    sign_in(client, user)
    client.post("/accounts/2fa/authenticate/", {"code": pyotp.TOTP(secret).now()})
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    response = client.post("/accounts/2fa/totp/deactivate/")
    assert response.status_code == 200
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


def test_settings_shows_two_factor_state_with_links(client, user):
    client.force_login(user)
    page = client.get("/settings/").content.decode()
    assert 'id="security-totp-status">Off<' in page
    assert "/accounts/2fa/totp/activate/" in page and "/accounts/2fa/webauthn/add/" in page
    TOTP.activate(user, pyotp.random_base32())
    page = client.get("/settings/").content.decode()
    assert 'id="security-totp-status">On<' in page
    assert "/accounts/2fa/totp/deactivate/" in page


def start_django(**env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "chatbot.settings_test", **env}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CHATBOT_REQUIRE_MFA", "sometimes"),
        ("CHATBOT_OIDC_PROVIDERS", "not json"),
        ("CHATBOT_OIDC_PROVIDERS", '[{"id": "corp", "name": "Corp"}]'),
        (
            "CHATBOT_OIDC_PROVIDERS",
            '[{"id": "corp", "name": "Corp", "issuer": "http://idp.example.com",'
            ' "client_id": "a", "secret": "b"}]',
        ),
        ("CHATBOT_OIDC_GROUP_MAP", '{"staff": 3}'),
    ],
)
def test_a_bad_value_stops_the_start_naming_the_variable(variable, value):
    result = start_django(**{variable: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and variable in result.stderr
