"""The token API, the cases mutation testing found unchecked: the issued token's body field
by field, each refusal's status and sentence (lockout, single sign-on, two-factor), signing
in past a stale session cookie without CSRF, the 401 challenge, throttling on signing in
only, which listed token is the current one, and revoking by key."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import include, path
from drf_spectacular.generators import SchemaGenerator
from knox.models import AuthToken
from rest_framework.fields import DateTimeField

from accounts import services
from accounts.api import views
from core.serializers import ErrorSerializer
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

SSO_REFUSAL = (
    "Password sign-in is turned off: this site signs in through your organisation. "
    "Create an API token in Settings instead."
)
MFA_REFUSAL = (
    "This account signs in with two-factor authentication, which a password alone "
    "cannot pass. Create an API token in Settings instead."
)


def sign_in(client: Client, username: str, password: str = PASSWORD):
    return client.post(
        "/api/auth/token", {"username": username, "password": password}, "application/json"
    )


def iso(value) -> str:
    return DateTimeField().to_representation(value)


def bearer(token: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {token}"})


def test_the_issued_token_is_the_stored_one_field_by_field(anonymous, user):
    response = sign_in(anonymous, user.username)
    assert response.status_code == 200
    body = response.json()
    record = AuthToken.objects.get(user=user)
    assert body == {
        "token": body["token"],
        "tokenKey": record.token_key,
        "expiry": iso(record.expiry),
    }
    assert body["token"].startswith(record.token_key)


def test_a_locked_account_gets_a_429_with_allauths_sentence(anonymous, user):
    assert [sign_in(anonymous, user.username, "wrong").status_code for _ in range(5)] == [401] * 5
    response = sign_in(anonymous, user.username)
    assert response.status_code == 429
    assert response.json() == {
        "detail": "Too many failed login attempts. Try again later.",
        "code": "throttled",
    }
    assert not AuthToken.objects.exists()


@pytest.mark.parametrize(
    ("sso_only", "mfa", "detail"), [(True, "off", SSO_REFUSAL), (False, "all", MFA_REFUSAL)]
)
def test_a_refused_account_gets_a_403_with_its_sentence_and_no_token(
    anonymous, user, settings, sso_only, mfa, detail
):
    settings.CHATBOT_SSO_ONLY, settings.CHATBOT_REQUIRE_MFA = sso_only, mfa
    response = sign_in(anonymous, user.username)
    assert response.status_code == 403
    assert response.json() == {"detail": detail, "code": "permission_denied"}
    assert not AuthToken.objects.exists()


def test_signing_in_ignores_a_stale_session_cookie_and_needs_no_csrf(user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(UserFactory())
    response = sign_in(browser, user.username)
    assert response.status_code == 200
    assert AuthToken.objects.get().user == user


@pytest.mark.parametrize(
    ("method", "path"), [("get", "/api/auth/tokens"), ("delete", "/api/auth/token")]
)
def test_without_credentials_the_token_api_is_a_401_bearer_challenge(anonymous, method, path):
    response = getattr(anonymous, method)(path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json() == {
        "detail": "Authentication credentials were not provided.",
        "code": "not_authenticated",
    }


def test_only_signing_in_is_throttled(api):
    assert [api.get("/api/auth/tokens").status_code for _ in range(12)] == [200] * 12


def test_the_list_marks_the_token_in_use_newest_first(user):
    first = services.issue_token(user=user)
    second = services.issue_token(user=user)
    services.issue_token(user=UserFactory())
    listed = bearer(first.token).get("/api/auth/tokens").json()
    assert listed == [
        {
            "tokenKey": second.record.token_key,
            "created": iso(second.record.created),
            "expiry": iso(second.record.expiry),
            "current": False,
        },
        {
            "tokenKey": first.record.token_key,
            "created": iso(first.record.created),
            "expiry": iso(first.record.expiry),
            "current": True,
        },
    ]


def test_a_browser_session_lists_tokens_none_of_them_current(user):
    issued = services.issue_token(user=user)
    browser = Client()
    browser.force_login(user)
    response = browser.get("/api/auth/tokens")
    assert response.status_code == 200
    assert [(t["tokenKey"], t["current"]) for t in response.json()] == [
        (issued.record.token_key, False)
    ]


def test_revoking_the_current_token_by_session_is_a_400_naming_why(user):
    issued = services.issue_token(user=user)
    browser = Client()
    browser.force_login(user)
    response = browser.delete("/api/auth/token")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "This request was not made with a token.",
        "code": "invalid",
        "errors": {"non_field_errors": ["This request was not made with a token."]},
    }
    assert AuthToken.objects.filter(pk=issued.record.pk).exists()


def test_revoking_the_current_token_leaves_the_others(user):
    current, other = services.issue_token(user=user), services.issue_token(user=user)
    response = bearer(current.token).delete("/api/auth/token")
    assert (response.status_code, response.json()) == (200, {"success": True})
    assert list(AuthToken.objects.values_list("pk", flat=True)) == [other.record.pk]


def test_revoking_by_key_answers_success_and_only_mine(api, user):
    mine = services.issue_token(user=user).record
    theirs = services.issue_token(user=UserFactory()).record
    response = api.delete(f"/api/auth/tokens/{mine.token_key}")
    assert (response.status_code, response.json()) == (200, {"success": True})
    assert not AuthToken.objects.filter(pk=mine.pk).exists()
    refused = api.delete(f"/api/auth/tokens/{theirs.token_key}")
    assert refused.status_code == 404
    assert refused.json() == {"detail": "Token not found.", "code": "not_found"}
    assert AuthToken.objects.filter(pk=theirs.pk).exists()


@pytest.mark.parametrize("key", ["x" * 26, "bad.key", "a b"])
def test_a_key_of_another_shape_is_a_404_without_a_lookup(api, key, django_assert_num_queries):
    with django_assert_num_queries(1):  # the bearer token's own, no lookup of the key
        response = api.delete(f"/api/auth/tokens/{key}")
    assert response.status_code == 404
    assert response.json() == {"detail": "Token not found.", "code": "not_found"}


def test_the_schema_has_sign_in_open_and_the_rest_behind_a_token_or_session():
    generator = SchemaGenerator(patterns=[path("api/auth/", include("accounts.api.urls"))])
    schema = generator.get_schema(request=None, public=True)
    security = {
        (route, method): operation.get("security")
        for route, operations in schema["paths"].items()
        for method, operation in operations.items()
    }
    signed_in = [{"bearerAuth": []}, {"cookieAuth": []}]
    assert security == {
        ("/api/auth/token", "post"): None,
        ("/api/auth/token", "delete"): signed_in,
        ("/api/auth/tokens", "get"): signed_in,
        ("/api/auth/tokens/{token_key}", "delete"): signed_in,
    }
    revoke = schema["paths"]["/api/auth/tokens/{token_key}"]["delete"]["responses"]["404"]
    assert revoke["description"] == "No such token of yours."


def test_an_error_response_is_the_error_body_with_its_description():
    # Called while the module is imported (the decorators), before mutmut picks a mutant.
    response = views._error("Wrong username or password.")
    assert response.response is ErrorSerializer
    assert response.description == "Wrong username or password."
