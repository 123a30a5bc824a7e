"""Signed-in browsers: listed in Settings, one signed out from another, all ended by a
suspension or deactivation."""

from __future__ import annotations

import uuid

import pytest
from allauth.usersessions.models import UserSession
from django.test import Client

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def signed_in(user, agent: str) -> Client:
    client = Client(
        REMOTE_ADDR=f"10.7.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}",
        HTTP_USER_AGENT=agent,
    )
    response = client.post("/accounts/login/", {"login": user.username, "password": PASSWORD})
    assert response.status_code == 302
    return client


FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0"
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/141.0.0.0 Safari/537.36"
)


def test_settings_lists_each_browser_and_signs_another_out(user):
    laptop, phone = signed_in(user, FIREFOX), signed_in(user, CHROME)
    page = laptop.get("/settings/").content.decode()
    assert "Firefox · Windows" in page and "Chrome · Linux" in page
    assert page.count(">Sign out<") == 1  # not for this browser
    other = UserSession.objects.get(user=user, user_agent=CHROME)
    response = laptop.post(f"/settings/sessions/{other.pk}/end/")
    assert response.status_code == 302
    assert phone.get("/settings/").status_code == 302  # back to the login page
    assert laptop.get("/settings/").status_code == 200
    assert list(UserSession.objects.filter(user=user).values_list("user_agent", flat=True)) == [
        FIREFOX
    ]


def test_another_users_session_is_404_and_untouched(user):
    stranger = UserFactory()
    theirs = signed_in(stranger, CHROME)
    mine = signed_in(user, FIREFOX)
    session = UserSession.objects.get(user=stranger)
    assert mine.post(f"/settings/sessions/{session.pk}/end/").status_code == 404
    assert theirs.get("/settings/").status_code == 200


@pytest.mark.parametrize("change", ["chat_suspended", "deactivated"])
def test_suspension_or_deactivation_ends_every_session(
    user, change, django_capture_on_commit_callbacks
):
    browsers = [signed_in(user, FIREFOX), signed_in(user, CHROME)]
    with django_capture_on_commit_callbacks(execute=True):
        if change == "chat_suspended":
            user.chat_suspended = True
        else:
            user.is_active = False
        user.save()
    assert not UserSession.objects.filter(user=user).exists()
    for browser in browsers:
        assert browser.get("/settings/").status_code == 302
