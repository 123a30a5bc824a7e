"""Security headers on every kind of response: pages, the login page, the API (JSON,
errors and the stream), the admin and error pages."""

from __future__ import annotations

import httpx
import pytest
from django.test import Client

from accounts import services as account_services
from tests.factories import UserFactory, conversation

pytestmark = pytest.mark.django_db(transaction=True)


def parse_policy(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def assert_strict_headers(headers) -> None:
    """``headers``: a Django test response or an httpx header mapping."""
    response = headers
    policy = parse_policy(response["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"], "no inline, eval or third-party scripts"
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    # Model output must not make the browser fetch from elsewhere (a Markdown image).
    assert set(policy["img-src"]) <= {"'self'", "data:"}
    assert policy["connect-src"] == ["'self'"]
    for sources in policy.values():
        assert not {"'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:"} & set(sources)
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


@pytest.fixture
def visitors(db):
    user = UserFactory()
    staff = UserFactory(is_staff=True, is_superuser=True)
    session = conversation(user, turns=1)
    logged_in, admin = Client(), Client()
    logged_in.force_login(user)
    admin.force_login(staff)
    bearer = Client(
        headers={"Authorization": f"Bearer {account_services.issue_token(user=user).token}"}
    )
    return {
        "anonymous": Client(),
        "user": logged_in,
        "staff": admin,
        "bearer": bearer,
        "session": session,
    }


@pytest.mark.parametrize(
    ("who", "path", "status"),
    [
        ("user", "/", 200),
        ("user", "/c/{id}/", 200),
        ("user", "/c/{id}/messages?before=9", 200),
        ("user", "/settings/", 200),
        ("user", "/settings/export/", 200),
        ("anonymous", "/accounts/login/", 200),
        ("anonymous", "/accounts/signup/", 200),
        ("anonymous", "/", 302),
        ("anonymous", "/no-such-page/", 404),
        ("user", "/c/00000000-0000-4000-8000-000000000000/", 404),
        ("bearer", "/api/chat/sessions", 200),
        ("bearer", "/api/chat/sessions/{id}/messages", 200),
        ("anonymous", "/api/chat/sessions", 401),
        ("anonymous", "/api/schema/", 200),
        ("anonymous", "/api/docs/", 200),
        ("staff", "/admin/", 200),
        ("staff", "/admin/conversations/chatsession/{id}/change/", 200),
        ("staff", "/admin/conversations/message/", 200),
        ("anonymous", "/admin/login/", 302),
    ],
)
def test_every_response_carries_strict_security_headers(visitors, who, path, status):
    response = visitors[who].get(path.format(id=visitors["session"].pk))

    assert response.status_code == status
    assert_strict_headers(response)


def test_the_event_stream_carries_the_headers_too(live_app, upstream):
    token = account_services.issue_token(user=UserFactory()).token

    response = httpx.post(
        f"{live_app}/api/chat",
        json={"message": "hi", "stream": True},
        headers={"Authorization": f"Bearer {token}"},
        timeout=20,
    )

    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert "event: done" in response.text
    assert_strict_headers(response.headers)


def test_https_responses_carry_hsts(visitors, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True

    response = visitors["user"].get("/", secure=True)

    assert response["Strict-Transport-Security"].startswith("max-age=31536000; includeSubDomains")
