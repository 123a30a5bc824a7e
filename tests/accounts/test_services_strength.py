"""Account services, the cases mutation testing found unchecked: preferences refused with
their field and message, each setting writing its own columns only, the expired-token
sweep and a password change touching the user's tokens only, and the sockets they close."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from allauth.usersessions.models import UserSession
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken

from accounts import services
from accounts.models import User
from conversations import events
from core.errors import InvalidInput
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def stored(user) -> dict:
    return User.objects.values(
        "theme", "language", "custom_instructions", "email", "first_name"
    ).get(pk=user.pk)


@pytest.mark.parametrize(("theme", "language"), [("dark", "de"), ("light", ""), ("system", "es")])
def test_preferences_from_the_lists_are_saved(theme, language):
    user = UserFactory()
    services.set_preferences(user=user, theme=theme, language=language)
    assert (stored(user)["theme"], stored(user)["language"]) == (theme, language)


@pytest.mark.parametrize(
    ("theme", "language", "field", "message"),
    [
        ("blue", "de", "theme", "Choose a theme from the list."),
        ("", "", "theme", "Choose a theme from the list."),
        ("dark", "xx", "language", "Choose a language from the list."),
        ("dark", "en-gb", "language", "Choose a language from the list."),
    ],
)
def test_preferences_outside_the_lists_are_refused_and_nothing_changes(
    theme, language, field, message
):
    user = UserFactory(theme="light", language="fr")
    with pytest.raises(InvalidInput) as refused:
        services.set_preferences(user=user, theme=theme, language=language)
    assert (refused.value.field, str(refused.value)) == (field, message)
    assert (stored(user)["theme"], stored(user)["language"]) == ("light", "fr")


def test_each_setting_writes_its_own_columns_only():
    """A stale copy of the user (another field changed in memory, not saved) must not
    overwrite the row's other columns."""
    user = UserFactory(email="kept@example.com", first_name="Kept")
    user.email, user.first_name = "stale@example.com", "Stale"
    services.set_preferences(user=user, theme="dark", language="de")
    services.set_custom_instructions(user=user, text="Be brief.")
    assert stored(user) == {
        "theme": "dark",
        "language": "de",
        "custom_instructions": "Be brief.",
        "email": "kept@example.com",
        "first_name": "Kept",
    }


def expire(*tokens: AuthToken) -> None:
    AuthToken.objects.filter(pk__in=[t.pk for t in tokens]).update(
        expiry=timezone.now() - timedelta(seconds=1)
    )


def test_issuing_a_token_sweeps_only_the_users_expired_tokens():
    user, other = UserFactory(), UserFactory()
    mine, theirs = services.issue_token(user=user).record, services.issue_token(user=other).record
    expire(mine, theirs)
    services.issue_token(user=user)
    assert not AuthToken.objects.filter(pk=mine.pk).exists()
    assert AuthToken.objects.filter(pk=theirs.pk).exists()


class Listener:
    """A channel in a user's group, as an open tab of theirs would be."""

    def __init__(self, user_id) -> None:
        self.layer = get_channel_layer()
        self.channel = async_to_sync(self.layer.new_channel)()
        async_to_sync(self.layer.group_add)(events.user_group(user_id), self.channel)

    def next_event(self) -> dict:
        async def receive():
            # A guard against waiting forever when nothing was sent, not a timing check.
            return await asyncio.wait_for(self.layer.receive(self.channel), 5)

        return async_to_sync(receive)()


def test_a_password_change_revokes_the_users_tokens_and_closes_their_sockets(
    django_capture_on_commit_callbacks,
):
    user, other = UserFactory(), UserFactory()
    services.issue_token(user=user)
    services.issue_token(user=user)
    theirs = services.issue_token(user=other).record
    tab = Listener(user.pk)
    with django_capture_on_commit_callbacks(execute=True):
        services.end_access_after_password_change(user=user)
    assert not AuthToken.objects.filter(user=user).exists()
    assert list(AuthToken.objects.values_list("pk", flat=True)) == [theirs.pk]
    assert tab.next_event() == {
        "type": "chat.close",
        "code": events.SIGNED_OUT,
        "reason": "password changed",
        "session": None,
    }


def signed_in(user) -> Client:
    client = Client(REMOTE_ADDR="10.9.8.7", HTTP_USER_AGENT=f"agent {uuid.uuid4()}")
    response = client.post("/accounts/login/", {"login": user.username, "password": PASSWORD})
    assert response.status_code == 302
    return client


def test_ending_a_browser_session_closes_that_browsers_sockets_only():
    user, other = UserFactory(), UserFactory()
    browser, other_browser = signed_in(user), signed_in(user)
    signed_in(other)
    ended = UserSession.objects.get(user=user, session_key=browser.session.session_key)
    tab = Listener(user.pk)
    assert not services.end_browser_session(user=other, session_id=ended.pk)
    assert services.end_browser_session(user=user, session_id=ended.pk)
    assert not services.end_browser_session(user=user, session_id=ended.pk)
    assert tab.next_event() == {
        "type": "chat.close",
        "code": events.SIGNED_OUT,
        "reason": "signed out",
        "session": events.session_tag(browser.session.session_key),
    }
    assert set(UserSession.objects.values_list("session_key", flat=True)) == {
        other_browser.session.session_key,
        UserSession.objects.get(user=other).session_key,
    }


def test_the_token_list_holds_only_the_users_live_tokens():
    user, other = UserFactory(), UserFactory()
    mine = services.issue_token(user=user).record
    services.issue_token(user=other)
    assert list(services.tokens_for_user(user)) == [mine]
