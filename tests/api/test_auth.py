"""Personal API tokens (knox, hashed, expiring) and browser-session auth with CSRF."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.middleware.csrf import get_token as get_token_for_csrf
from django.test import Client, RequestFactory
from django.utils import timezone
from knox.models import AuthToken

from accounts.api_auth import BearerTokenAuthentication
from accounts.services import issue_token
from tests.factories import PASSWORD, ChatSessionFactory

pytestmark = pytest.mark.django_db


def get_token(client, username, password=PASSWORD):
    return client.post(
        "/api/auth/token", {"username": username, "password": password}, "application/json"
    )


@pytest.mark.parametrize("login", ["username", "email"])
def test_token_from_username_or_email_authenticates(anonymous, user, login):
    response = get_token(anonymous, getattr(user, login))

    assert response.status_code == 200
    body = response.json()
    assert body["token"].startswith("cb_") and body["expiry"]
    stored = AuthToken.objects.get(user=user)
    assert body["token"] not in (stored.digest, stored.token_key)
    client = Client(headers={"Authorization": f"Bearer {body['token']}"})
    assert client.get("/api/chat/sessions").status_code == 200


@pytest.mark.parametrize(
    ("username", "password"),
    [("user-that-does-not-exist", PASSWORD), (None, "wrong password")],
)
def test_wrong_credentials_are_401_with_detail(anonymous, user, username, password):
    response = get_token(anonymous, username or user.username, password)

    assert response.status_code == 401
    assert response.json()["detail"] == "The username or password is not correct."
    assert not AuthToken.objects.exists()


@pytest.mark.parametrize(
    "body", [{}, {"username": "x"}, {"username": 5, "password": "p"}, [], {"password": "p"}]
)
def test_incomplete_token_request_is_400(anonymous, body):
    response = anonymous.post("/api/auth/token", body, "application/json")

    assert response.status_code == 400
    assert response.json()["detail"]


def test_signing_in_is_throttled(anonymous, user):
    # Other usernames each time: one account alone is locked sooner, after 5 (allauth).
    statuses = [get_token(anonymous, f"nobody{n}", "wrong").status_code for n in range(11)]

    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429
    response = get_token(anonymous, user.username)
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1


def test_delete_token_revokes_the_token_used(api, user):
    response = api.delete("/api/auth/token")

    assert response.status_code == 200 and response.json() == {"success": True}
    assert not AuthToken.objects.filter(user=user).exists()
    assert api.get("/api/chat/sessions").status_code == 401


def test_list_tokens_without_secrets(anonymous, api, user):
    issued = get_token(anonymous, user.username).json()

    response = api.get("/api/auth/tokens")

    assert response.status_code == 200
    tokens = response.json()
    assert len(tokens) == 2
    assert {tuple(sorted(t)) for t in tokens} == {("created", "current", "expiry", "tokenKey")}
    assert [t["current"] for t in tokens].count(True) == 1
    assert issued["tokenKey"] in {t["tokenKey"] for t in tokens}
    assert issued["token"] not in response.content.decode()
    digests = AuthToken.objects.values_list("digest", flat=True)
    assert not any(digest in response.content.decode() for digest in digests)


def test_revoke_one_token_by_key(anonymous, api, user):
    other = get_token(anonymous, user.username).json()

    response = api.delete(f"/api/auth/tokens/{other['tokenKey']}")

    assert response.status_code == 200
    other_client = Client(headers={"Authorization": f"Bearer {other['token']}"})
    assert other_client.get("/api/chat/sessions").status_code == 401
    assert api.get("/api/chat/sessions").status_code == 200
    assert api.delete(f"/api/auth/tokens/{other['tokenKey']}").status_code == 404


@pytest.mark.parametrize("key", ["nope", "a%00b", "x" * 30])
def test_revoke_unknown_token_is_404(api, key):
    assert api.delete(f"/api/auth/tokens/{key}").status_code == 404


@pytest.mark.parametrize(
    "header",
    [
        "Bearer cb_wrong",
        "Bearer",
        "Bearer two parts",
        "Bearer cb_\x00zero",
        "Bearer caf\xe9",
    ],
)
def test_bad_bearer_tokens_are_401(header):
    client = Client(headers={"Authorization": header})

    response = client.get("/api/chat/sessions")

    assert response.status_code == 401
    assert response.json()["detail"]


def test_expired_token_is_401(anonymous, user):
    token = get_token(anonymous, user.username).json()["token"]
    AuthToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))
    client = Client(headers={"Authorization": f"Bearer {token}"})

    assert client.get("/api/chat/sessions").status_code == 401


def test_an_expired_token_is_deleted_when_presented_and_others_when_tokens_are_issued(
    anonymous, user
):
    first = get_token(anonymous, user.username).json()["token"]
    second = get_token(anonymous, user.username).json()["token"]
    AuthToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))

    presented = Client(headers={"Authorization": f"Bearer {first}"})
    assert presented.get("/api/chat/sessions").status_code == 401
    assert AuthToken.objects.filter(user=user).count() == 1  # the presented one is gone

    third = get_token(anonymous, user.username).json()["token"]
    assert AuthToken.objects.filter(user=user).count() == 1  # the other expired one too
    for token, expected in ((second, 401), (third, 200)):
        client = Client(headers={"Authorization": f"Bearer {token}"})
        assert client.get("/api/chat/sessions").status_code == expected


def test_token_authentication_is_one_query(rf, user, django_assert_num_queries):
    for _ in range(3):  # other tokens of the user are not loaded
        issued = issue_token(user=user)
    request = rf.get("/", headers={"Authorization": f"Bearer {issued.token}"})

    with django_assert_num_queries(1):
        authenticated_user, record = BearerTokenAuthentication().authenticate(request)

    assert (authenticated_user, record) == (user, issued.record)


def test_delete_token_with_session_auth_is_400(user):
    client = Client()
    client.force_login(user)

    response = client.delete("/api/auth/token")

    assert response.status_code == 400


# --- Browser session with CSRF ----------------------------------------------------------


@pytest.fixture
def browser(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def csrf_token(client: Client) -> str:
    """What a page gives the browser: a CSRF cookie whose value the script sends back."""
    token = get_token_for_csrf(RequestFactory().get("/"))
    client.cookies[settings.CSRF_COOKIE_NAME] = token
    return token


def test_session_auth_reads_without_csrf(browser, user):
    ChatSessionFactory(user=user)

    assert browser.get("/api/chat/sessions").status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/chat/sessions/{id}", {"title": "New"}),
        ("patch", "/api/chat/sessions/{id}", {"title": "New"}),
        ("delete", "/api/chat/sessions/{id}", None),
        ("post", "/api/chat", {"message": "hi"}),
        ("post", "/api/chat/sessions/{id}/regenerate", {}),
    ],
)
def test_session_auth_needs_csrf_for_unsafe_methods(browser, user, method, path, body):
    session = ChatSessionFactory(user=user, title="Old")
    path = path.format(id=session.pk)
    kwargs = {"data": body, "content_type": "application/json"} if body is not None else {}

    refused = getattr(browser, method)(path, **kwargs)

    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    session.refresh_from_db()
    assert session.title == "Old"


def test_session_auth_with_csrf_token_can_rename(browser, user):
    session = ChatSessionFactory(user=user, title="Old")

    response = browser.post(
        f"/api/chat/sessions/{session.pk}",
        {"title": "New"},
        "application/json",
        headers={"X-CSRFToken": csrf_token(browser)},
    )

    assert response.status_code == 200 and response.json()["title"] == "New"
