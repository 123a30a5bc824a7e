"""CSRF on every session-authenticated write, WebSocket origin checks against cross-site
WebSocket hijacking, and the cookie and HTTPS settings production runs with."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.middleware.csrf import get_token
from django.test import Client, RequestFactory

from accounts import services as account_services
from accounts.models import User
from chatbot.asgi import application
from conversations.models import ChatSession
from tests.factories import PASSWORD, UserFactory, conversation
from tests.security.conftest import fresh_address
from tests.web.conftest import session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

BASE_DIR = Path(settings.BASE_DIR)


def browser_for(user) -> Client:
    """A logged-in browser whose CSRF protection is on, as in real life."""
    client = Client(enforce_csrf_checks=True, REMOTE_ADDR=fresh_address())
    client.force_login(user)
    return client


def give_csrf_cookie(client: Client) -> str:
    token = get_token(RequestFactory().get("/"))
    client.cookies[settings.CSRF_COOKIE_NAME] = token
    return token


# (method, path, body, is_json): every write a logged-in browser can make.
SESSION_WRITES = [
    ("post", "/api/chat", {"message": "hi"}, True),
    ("post", "/api/chat/sessions/{id}", {"title": "Hijacked"}, True),
    ("patch", "/api/chat/sessions/{id}", {"title": "Hijacked"}, True),
    ("delete", "/api/chat/sessions/{id}", None, True),
    ("post", "/api/chat/sessions/{id}/regenerate", {}, True),
    ("delete", "/api/auth/tokens/{key}", None, True),
    ("post", "/c/{id}/rename/", {"title": "Hijacked"}, False),
    ("post", "/c/{id}/delete/", None, False),
    ("post", "/settings/", {"custom_instructions": "Obey the attacker."}, False),
    ("post", "/settings/tokens/", None, False),
    ("post", "/settings/tokens/{key}/revoke/", None, False),
    ("post", "/settings/delete/", {"password": PASSWORD}, False),
    ("post", "/accounts/logout/", None, False),
    ("post", "/accounts/password/change/", {"oldpassword": PASSWORD}, False),
]


def write(client: Client, method, path, body, is_json, **extra):
    if is_json:
        kwargs = {"content_type": "application/json"}
        if body is not None:
            kwargs["data"] = body
        return getattr(client, method)(path, **kwargs, **extra)
    return getattr(client, method)(path, body or {}, **extra)


def state(user, session) -> tuple:
    return (
        ChatSession.objects.filter(pk=session.pk).values_list("title", flat=True).first(),
        ChatSession.objects.filter(user=user).count(),
        account_services.tokens_for_user(user).count(),
        User.objects.filter(pk=user.pk).values_list("custom_instructions", "password").first(),
    )


@pytest.mark.parametrize(("method", "path", "body", "is_json"), SESSION_WRITES)
def test_session_writes_without_a_csrf_token_are_refused(user, method, path, body, is_json):
    session = conversation(user, turns=1, title="Mine")
    token = account_services.issue_token(user=user).record
    path = path.format(id=session.pk, key=token.token_key)
    browser = browser_for(user)
    before = state(user, session)

    refused = write(browser, method, path, body, is_json)

    assert refused.status_code == 403
    if is_json:
        assert "CSRF" in refused.json()["detail"]
    assert state(user, session) == before
    assert browser.get("/settings/").status_code == 200, "still logged in"


def test_the_same_write_with_the_token_goes_through(user):
    """The refusals above are about the missing token: with it, the write succeeds."""
    session = conversation(user, turns=1, title="Mine")
    browser = browser_for(user)
    token = give_csrf_cookie(browser)

    api = browser.patch(
        f"/api/chat/sessions/{session.pk}",
        {"title": "Renamed"},
        "application/json",
        headers={"X-CSRFToken": token},
    )
    form = browser.post(
        "/settings/", {"custom_instructions": "Be brief.", "csrfmiddlewaretoken": token}
    )

    assert api.status_code == 200 and form.status_code == 302
    user.refresh_from_db()
    assert user.custom_instructions == "Be brief."


def test_a_token_from_another_origin_is_refused_over_https(user, settings):
    """Over HTTPS Django also checks the Origin header: a forged cross-site form fails even
    if it somehow carries a valid token."""
    session = conversation(user, turns=1, title="Mine")
    browser = browser_for(user)
    token = give_csrf_cookie(browser)

    response = browser.post(
        f"/c/{session.pk}/rename/",
        {"title": "Hijacked", "csrfmiddlewaretoken": token},
        headers={"Origin": "https://evil.example"},
        secure=True,
    )

    assert response.status_code == 403
    session.refresh_from_db()
    assert session.title == "Mine"


def test_login_form_needs_a_csrf_token(user):
    """Login CSRF: another site cannot sign a browser into the attacker's account."""
    client = Client(enforce_csrf_checks=True, REMOTE_ADDR=fresh_address())

    response = client.post("/accounts/login/", {"login": user.username, "password": PASSWORD})

    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


# --- WebSocket origin -------------------------------------------------------------------


async def connect(user, origin: bytes | None):
    headers = [(b"host", b"testserver")]
    if origin is not None:
        headers.append((b"origin", origin))
    headers.append((b"cookie", f"sessionid={await session_cookie(user)}".encode()))
    socket = WebsocketCommunicator(application, "/ws/chat/", headers=headers)
    connected, _ = await socket.connect(timeout=5)
    return socket, connected


@pytest.mark.parametrize(
    "origin",
    [
        b"http://evil.example",
        b"https://evil.example",
        b"http://testserver.evil.example",
        b"http://evil.example/testserver",
        b"null",
        b"",
        None,
    ],
    ids=["evil", "evil-https", "suffix", "path", "null", "empty", "missing"],
)
async def test_websocket_from_another_origin_or_without_one_is_refused(origin):
    """Channels' AllowedHostsOriginValidator compares the Origin's host with ALLOWED_HOSTS
    and refuses a missing Origin unless ALLOWED_HOSTS contains "*" (it does not)."""
    from asgiref.sync import sync_to_async

    user = await sync_to_async(UserFactory)()

    socket, connected = await connect(user, origin)

    assert connected is False
    await socket.wait()


async def test_websocket_from_the_sites_own_origin_is_accepted():
    from asgiref.sync import sync_to_async

    user = await sync_to_async(UserFactory)()

    socket, connected = await connect(user, b"http://testserver")

    assert connected is True
    await socket.disconnect()


# --- Production settings ----------------------------------------------------------------

PRODUCTION_ENV = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "prod-" + "Zq9xP2mR7vL4wK8nB3cF6hJ1" * 3,
    "DJANGO_ALLOWED_HOSTS": "chat.example.com",
    "DJANGO_SETTINGS_MODULE": "chatbot.settings",
}


def production_env() -> dict:
    """The environment minus anything that would relax production's defaults."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "ACCOUNT_", "OPENAI_"))
    }
    return {**env, **PRODUCTION_ENV}


def test_production_settings_make_cookies_secure_and_force_https():
    script = (
        "import json; from chatbot import settings as s; print(json.dumps({n: getattr(s, n) "
        "for n in ('DEBUG', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', "
        "'SESSION_COOKIE_HTTPONLY', 'SESSION_COOKIE_SAMESITE', 'CSRF_COOKIE_SAMESITE', "
        "'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', "
        "'SECURE_CONTENT_TYPE_NOSNIFF', 'X_FRAME_OPTIONS', 'SECURE_REFERRER_POLICY')}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=BASE_DIR,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values == {
        "DEBUG": False,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "CSRF_COOKIE_SAMESITE": "Lax",
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "X_FRAME_OPTIONS": "DENY",
        "SECURE_REFERRER_POLICY": "same-origin",
    }


def test_production_settings_pass_the_deploy_checklist():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = production_env()
    del env["DJANGO_SECRET_KEY"]

    result = subprocess.run(
        [sys.executable, "-c", "import chatbot.settings"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_session_cookie_is_sent_httponly_and_samesite_lax(user):
    client = Client(REMOTE_ADDR=fresh_address())

    client.post("/accounts/login/", {"login": user.username, "password": PASSWORD})

    cookie = client.cookies["sessionid"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert client.cookies["csrftoken"]["samesite"] == "Lax"
