"""The admin has no login form of its own: /admin/login/ sends people to allauth's, which
limits failed attempts, asks for the second factor and applies the two-factor policy, so
the admin cannot be brute forced or entered with a password alone."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from allauth.mfa.totp.internal.auth import TOTP
from django.test import Client

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def client() -> Client:
    # A fresh address per test: the rate limit counts per IP in a cache shared by
    # parallel test runs on Redis.
    return Client(REMOTE_ADDR=f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7")


@pytest.fixture
def staff(db):
    return UserFactory(username=f"staff-{uuid.uuid4().hex[:12]}", is_staff=True, is_superuser=True)


def is_logged_in(client: Client) -> bool:
    return client.get("/admin/").status_code == 200


def test_admin_login_page_redirects_to_the_allauth_login(client):
    response = client.get("/admin/", follow=True)
    path, query = urlsplit(response.redirect_chain[-1][0])[2:4]
    assert path == "/accounts/login/"
    assert parse_qs(query)["next"] == ["/admin/"]
    assert response.status_code == 200


def test_admin_login_form_does_not_accept_credentials(client, staff):
    response = client.post(
        "/admin/login/?next=/admin/", {"username": staff.username, "password": PASSWORD}
    )
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == "/accounts/login/"
    assert not is_logged_in(client)


def test_staff_logs_in_through_allauth_and_reaches_the_admin(client, staff):
    response = client.post(
        "/accounts/login/?next=/admin/", {"login": staff.username, "password": PASSWORD}
    )
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert is_logged_in(client)


def test_repeated_failed_logins_are_refused_even_with_the_right_password(client, staff):
    for _attempt in range(5):
        response = client.post("/accounts/login/", {"login": staff.username, "password": "nope"})
        assert response.status_code == 200
    response = client.post(
        "/accounts/login/?next=/admin/", {"login": staff.username, "password": PASSWORD}
    )
    assert response.status_code == 200
    assert "Too many failed login attempts" in response.content.decode()
    assert not is_logged_in(client)


def test_a_logged_in_user_who_is_not_staff_is_refused(client, user):
    client.force_login(user)
    assert client.get("/admin/login/").status_code == 403
    assert client.get("/admin/").status_code == 302


def test_admin_login_page_sends_a_visitor_to_the_allauth_login(client):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    path, query = urlsplit(response["Location"])[2:4]
    assert path == "/accounts/login/"
    assert parse_qs(query)["next"] == ["/admin/"]


def test_staff_with_two_factor_must_pass_it_to_reach_the_admin(client, staff):
    secret = pyotp.random_base32()
    TOTP.activate(staff, secret)
    response = client.post(
        "/accounts/login/?next=/admin/", {"login": staff.username, "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/2fa/authenticate/"
    assert not is_logged_in(client)
    response = client.post("/accounts/2fa/authenticate/", {"code": "000000"})
    assert response.status_code == 200 and not is_logged_in(client)
    response = client.post("/accounts/2fa/authenticate/", {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert is_logged_in(client)


def test_staff_the_policy_covers_sets_up_two_factor_before_the_admin(client, staff, settings):
    settings.CHATBOT_REQUIRE_MFA = "staff"
    client.post("/accounts/login/?next=/admin/", {"login": staff.username, "password": PASSWORD})
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"] == "/accounts/2fa/"
    # Setting up is allowed: allauth asks for the password again, then shows the QR code.
    response = client.post(
        "/accounts/reauthenticate/?next=/accounts/2fa/totp/activate/", {"password": PASSWORD}
    )
    assert response.status_code == 302
    assert client.get("/accounts/2fa/totp/activate/").status_code == 200
    assert client.get("/admin/")["Location"] == "/accounts/2fa/"
