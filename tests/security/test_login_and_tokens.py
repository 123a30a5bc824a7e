"""Login abuse is limited (allauth's rate limits, the token endpoint's throttle), API
tokens are hashed at rest, revocable and expiring, and deleting an account removes all of
its data. Admin login through allauth: tests/moderation/test_admin_login.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken

from accounts import services as account_services
from accounts.models import User
from conversations.models import ChatSession, IdempotencyKey, Message
from tests.factories import PASSWORD, UserFactory, conversation
from tests.security.conftest import fresh_address

pytestmark = pytest.mark.django_db(transaction=True)


def log_in(client: Client, login: str, password: str):
    return client.post("/accounts/login/", {"login": login, "password": password})


def logged_in(client: Client) -> bool:
    return client.get("/settings/").status_code == 200


# --- allauth's login rate limits --------------------------------------------------------


@pytest.mark.parametrize("login", ["username", "email"])
def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(user, login):
    client = Client(REMOTE_ADDR=fresh_address())
    for _attempt in range(5):
        assert log_in(client, getattr(user, login), "wrong password").status_code == 200
        assert not logged_in(client)

    locked = log_in(client, getattr(user, login), PASSWORD)

    assert locked.status_code == 200
    assert "Too many failed login attempts" in locked.content.decode()
    assert not logged_in(client)
    # From another address too: the limit is on the account's login, not just the address.
    elsewhere = Client(REMOTE_ADDR=fresh_address())
    assert (
        "Too many failed login attempts"
        in log_in(elsewhere, getattr(user, login), PASSWORD).content.decode()
    )


def test_one_address_trying_many_accounts_is_limited(db):
    """Password spraying: ten failures a minute from one address, whatever the account."""
    address = fresh_address()
    victims = [UserFactory() for _ in range(11)]
    for victim in victims[:10]:
        log_in(Client(REMOTE_ADDR=address), victim.username, "Summer2024!")

    response = log_in(Client(REMOTE_ADDR=address), victims[10].username, PASSWORD)

    assert "Too many failed login attempts" in response.content.decode()


def test_the_right_password_first_time_logs_in(user):
    """The limit above is about failures: an honest login is never refused."""
    client = Client(REMOTE_ADDR=fresh_address())

    response = log_in(client, user.email, PASSWORD)

    assert response.status_code == 302 and logged_in(client)


# --- The token endpoint -----------------------------------------------------------------


def ask_token(client: Client, username: str, password: str, **headers):
    return client.post(
        "/api/auth/token",
        {"username": username, "password": password},
        content_type="application/json",
        headers=headers,
    )


def test_token_endpoint_is_throttled_per_address(user):
    client = Client(REMOTE_ADDR=fresh_address())
    # Other usernames each time: one account alone is locked sooner, after 5 (allauth).
    statuses = [ask_token(client, f"nobody{n}", "wrong").status_code for n in range(11)]

    assert statuses == [401] * 10 + [429]
    assert ask_token(client, user.username, PASSWORD).status_code == 429
    assert not AuthToken.objects.filter(user=user).exists()


def test_a_forged_forwarded_for_header_does_not_escape_the_throttle(user):
    """DRF identifies clients by the whole X-Forwarded-For header unless NUM_PROXIES is
    set, so a client choosing a new header per request would never be throttled."""
    client = Client(REMOTE_ADDR=fresh_address())
    statuses = [
        ask_token(
            client, user.username, "wrong", **{"X-Forwarded-For": f"203.0.113.{n}"}
        ).status_code
        for n in range(11)
    ]

    assert statuses[-1] == 429


def test_wrong_passwords_through_the_api_lock_the_account_everywhere(user):
    # One address per attempt: the per-address throttle never triggers.
    for _attempt in range(5):
        assert ask_token(Client(REMOTE_ADDR=fresh_address()), user.username, "x").status_code == 401

    api = ask_token(Client(REMOTE_ADDR=fresh_address()), user.username, PASSWORD)
    form = log_in(Client(REMOTE_ADDR=fresh_address()), user.username, PASSWORD)

    assert api.status_code == 429
    assert "Too many failed login attempts" in form.content.decode()


# --- Tokens at rest ---------------------------------------------------------------------


def every_stored_text(table: str) -> str:
    """Every column of every row of ``table``, as one string (what a database thief reads)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
        return "\n".join(" ".join(str(value) for value in row) for row in cursor.fetchall())


def test_issued_tokens_are_stored_only_as_a_digest(user):
    client = Client(REMOTE_ADDR=fresh_address())
    token = ask_token(client, user.username, PASSWORD).json()["token"]
    page_client = Client()
    page_client.force_login(user)
    shown_once = page_client.post("/settings/tokens/").context["new_token"]

    stored = every_stored_text(AuthToken._meta.db_table)

    assert AuthToken.objects.filter(user=user).count() == 2
    for secret in (token, shown_once):
        assert secret.startswith("cb_") and len(secret) > 40
        assert secret not in stored
        assert secret[len("cb_") + 8 :] not in stored, "no part beyond the public key prefix"


def test_revoked_and_expired_tokens_are_401(user):
    revoked = account_services.issue_token(user=user)
    expired = account_services.issue_token(user=user)
    live = account_services.issue_token(user=user)
    account_services.revoke_token(user=user, token_key=revoked.record.token_key)
    AuthToken.objects.filter(pk=expired.record.pk).update(
        expiry=timezone.now() - timedelta(seconds=1)
    )

    def status(issued) -> int:
        client = Client(headers={"Authorization": f"Bearer {issued.token}"})
        return client.get("/api/chat/sessions").status_code

    assert (status(revoked), status(expired), status(live)) == (401, 401, 200)


# --- Account deletion -------------------------------------------------------------------


def test_deleting_an_account_removes_all_of_its_data(user, other_user, upstream):
    api = Client(
        headers={"Authorization": f"Bearer {account_services.issue_token(user=user).token}"}
    )
    sent = api.post(
        "/api/chat",
        {"message": "remember me"},
        "application/json",
        headers={"Idempotency-Key": "k1"},
    )
    assert sent.status_code == 200
    conversation(user, turns=2)
    theirs = conversation(other_user, turns=1)
    other_tab = Client()
    other_tab.force_login(user)
    browser = Client()
    browser.force_login(user)
    assert IdempotencyKey.objects.filter(user=user).exists()

    response = browser.post("/settings/delete/", {"password": PASSWORD})

    assert response.status_code == 302
    assert not User.objects.filter(pk=user.pk).exists()
    assert not ChatSession.objects.filter(user_id=user.pk).exists()
    assert not Message.objects.filter(session__user_id=user.pk).exists()
    assert not AuthToken.objects.filter(user_id=user.pk).exists()
    assert not IdempotencyKey.objects.filter(user_id=user.pk).exists()
    assert other_tab.get("/settings/").status_code == 302
    assert api.get("/api/chat/sessions").status_code == 401
    # Nobody else's data goes with it.
    assert Message.objects.filter(session=theirs).count() == 2
