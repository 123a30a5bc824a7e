"""Where a user's access ends and the sign-in policy applies, the cases mutation testing
found unchecked: a sign-out closes that browser's sockets only, each save of the user ends
access only for a real change (a first password, an already inactive or suspended user and
a save of other fields end nothing), the two-factor flag follows factors added and removed,
and the group claim is read from the user info before the ID token."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from allauth.account.signals import user_logged_in
from allauth.mfa.models import Authenticator
from allauth.mfa.signals import authenticator_added, authenticator_removed
from allauth.usersessions.models import UserSession
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import logout
from django.contrib.auth.models import AnonymousUser, Group
from django.contrib.auth.signals import user_logged_out
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client, RequestFactory
from knox.models import AuthToken

from accounts import services
from accounts.middleware import MFA_ENROLMENT_SESSION_KEY
from accounts.models import User
from conversations import events
from tests.accounts.test_services_strength import Listener
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

MARKER = {"type": "test.marker"}


def nothing_more(tab: Listener, user_id) -> bool:
    """No event before one sent now: the socket saw nothing (no waiting for silence)."""
    async_to_sync(get_channel_layer().group_send)(events.user_group(user_id), MARKER)
    return tab.next_event() == MARKER


def closed(code: int, reason: str, session=None) -> dict:
    return {"type": "chat.close", "code": code, "reason": reason, "session": session}


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


def browser_of(user) -> Client:
    client = Client(HTTP_USER_AGENT="Agent/1")
    client.force_login(user)
    assert client.get("/settings/").status_code == 200  # recorded as a browser session
    return client


# --- Sign-out


def test_signing_out_closes_that_browsers_sockets_only(user):
    browser = browser_of(user)
    key = browser.session.session_key
    tab = Listener(user.pk)
    assert browser.post("/accounts/logout/").status_code == 302
    assert tab.next_event() == closed(events.SIGNED_OUT, "signed out", events.session_tag(key))
    assert nothing_more(tab, user.pk)


def test_a_sign_out_without_a_user_or_a_session_closes_nothing(user):
    tab = Listener(user.pk)
    request = RequestFactory().get("/")
    request.session = SessionStore()
    request.session.create()
    request.user = AnonymousUser()
    logout(request)  # a visitor: Django sends user=None
    user_logged_out.send(sender=User, request=None, user=user)
    unsaved = RequestFactory().get("/")
    unsaved.session = SessionStore()  # no key yet
    user_logged_out.send(sender=User, request=unsaved, user=user)
    assert nothing_more(tab, user.pk)


# --- Password changes


def test_a_new_password_revokes_tokens_and_closes_every_socket(user, commit):
    services.issue_token(user=user)
    theirs = services.issue_token(user=UserFactory()).record
    tab = Listener(user.pk)
    with commit():
        user.set_password("Another-horse-battery-7")
        user.save()
    assert list(AuthToken.objects.values_list("pk", flat=True)) == [theirs.pk]
    assert tab.next_event() == closed(events.SIGNED_OUT, "password changed")
    assert nothing_more(tab, user.pk)


@pytest.mark.parametrize("before", ["unusable", "empty"])
def test_a_first_password_ends_nothing(commit, before):
    user = UserFactory()
    if before == "unusable":
        user.set_unusable_password()
        user.save()
    else:
        User.objects.filter(pk=user.pk).update(password="")
        user.refresh_from_db()
    token = services.issue_token(user=user).record
    tab = Listener(user.pk)
    with commit():
        user.set_password("First-horse-battery-7")
        user.save()
    assert AuthToken.objects.filter(pk=token.pk).exists()
    assert nothing_more(tab, user.pk)


def test_saving_other_fields_ends_nothing(user, commit):
    token = services.issue_token(user=user).record
    browser = browser_of(user)
    tab = Listener(user.pk)
    with commit():
        user.first_name = "Renamed"
        user.save()
    assert AuthToken.objects.filter(pk=token.pk).exists()
    assert nothing_more(tab, user.pk)
    assert browser.get("/settings/").status_code == 200


# --- Deactivation and suspension


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [("is_active", False, "deactivated"), ("chat_suspended", True, "suspended")],
)
@pytest.mark.parametrize("update_fields", [None, "own"])
def test_deactivating_or_suspending_closes_sockets_and_ends_browsers(
    user, commit, field, value, reason, update_fields
):
    browser = browser_of(user)
    token = services.issue_token(user=user).record
    tab = Listener(user.pk)
    with commit():
        setattr(user, field, value)
        user.save(update_fields=[field] if update_fields else None)
    assert tab.next_event() == closed(events.ACCESS_ENDED, reason)
    assert nothing_more(tab, user.pk)
    assert not UserSession.objects.filter(user=user).exists()
    assert browser.get("/settings/").status_code == 302
    assert AuthToken.objects.filter(pk=token.pk).exists()  # tokens stop at the check instead


def test_both_at_once_closes_once_as_deactivated(user, commit):
    browser_of(user)
    tab = Listener(user.pk)
    with commit():
        user.is_active, user.chat_suspended = False, True
        user.save()
    assert tab.next_event() == closed(events.ACCESS_ENDED, "deactivated")
    assert nothing_more(tab, user.pk)
    assert not UserSession.objects.filter(user=user).exists()


@pytest.mark.parametrize(("field", "value"), [("is_active", False), ("chat_suspended", True)])
def test_a_save_leaving_the_field_out_ends_nothing(user, commit, field, value):
    browser = browser_of(user)
    tab = Listener(user.pk)
    with commit():
        setattr(user, field, value)
        user.save(update_fields=["first_name"])
    assert nothing_more(tab, user.pk)
    assert UserSession.objects.filter(user=user).exists()
    assert browser.get("/settings/").status_code == 200


@pytest.mark.parametrize(("field", "value"), [("is_active", False), ("chat_suspended", True)])
def test_saving_an_already_ended_user_again_ends_nothing_more(commit, field, value):
    user = UserFactory(**{field: value})
    tab = Listener(user.pk)
    with commit() as callbacks:
        user.first_name = "Again"
        user.save()
    assert callbacks == []
    assert nothing_more(tab, user.pk)


def test_restoring_ends_nothing(commit):
    user = UserFactory(chat_suspended=True, is_active=False)
    tab = Listener(user.pk)
    with commit() as callbacks:
        user.chat_suspended, user.is_active = False, True
        user.save()
    assert callbacks == []
    assert nothing_more(tab, user.pk)


def test_a_stale_copy_of_a_deleted_user_saves_as_a_new_row(user, commit):
    User.objects.filter(pk=user.pk).delete()
    with commit() as callbacks:
        user.is_active = False
        user.set_password("Another-horse-battery-7")
        user.save()
    assert callbacks == []
    assert User.objects.filter(pk=user.pk, is_active=False).exists()


# --- Two-factor flag and groups at sign-in


def sign_in_request(user, **session):
    request = RequestFactory().get("/")
    request.session = SessionStore()
    request.session.update(session)
    request.user = user
    return request


def test_sign_in_sets_the_flag_for_a_covered_user_and_clears_it_otherwise(user, settings):
    settings.CHATBOT_REQUIRE_MFA = "all"
    request = sign_in_request(user)
    user_logged_in.send(sender=User, request=request, user=user)
    assert request.session[MFA_ENROLMENT_SESSION_KEY] is True
    settings.CHATBOT_REQUIRE_MFA = "off"
    user_logged_in.send(sender=User, request=request, user=user)
    assert MFA_ENROLMENT_SESSION_KEY not in request.session
    user_logged_in.send(sender=User, request=request, user=user)  # nothing to clear
    assert MFA_ENROLMENT_SESSION_KEY not in request.session


def test_a_factor_change_without_a_request_or_session_is_left_alone(user, settings):
    settings.CHATBOT_REQUIRE_MFA = "all"
    sessionless = RequestFactory().get("/")
    totp = Authenticator.objects.create(user=user, type=Authenticator.Type.TOTP, data={})
    for request in (None, sessionless):
        authenticator_added.send(
            sender=Authenticator, request=request, user=user, authenticator=totp
        )
    assert not hasattr(sessionless, "session")


def test_the_flag_follows_factors_added_and_removed(user, settings):
    settings.CHATBOT_REQUIRE_MFA = "all"
    request = sign_in_request(user, **{MFA_ENROLMENT_SESSION_KEY: True})
    totp = Authenticator.objects.create(user=user, type=Authenticator.Type.TOTP, data={})
    authenticator_added.send(sender=Authenticator, request=request, user=user, authenticator=totp)
    assert MFA_ENROLMENT_SESSION_KEY not in request.session
    totp.delete()
    authenticator_removed.send(sender=Authenticator, request=request, user=user, authenticator=totp)
    assert request.session[MFA_ENROLMENT_SESSION_KEY] is True


def social_sign_in(user, extra_data) -> set[str]:
    login = SimpleNamespace(account=SimpleNamespace(extra_data=extra_data))
    user_logged_in.send(sender=User, request=sign_in_request(user), user=user, sociallogin=login)
    return set(user.groups.values_list("name", flat=True))


@pytest.fixture
def group_map(settings):
    settings.CHATBOT_OIDC_GROUP_MAP = {"idp-mods": "Moderators", "idp-beta": "Beta"}
    settings.CHATBOT_OIDC_GROUPS_CLAIM = "roles"


def test_the_group_claim_comes_from_the_user_info_first(user, group_map):
    data = {"userinfo": {"roles": ["idp-mods"]}, "id_token": {"roles": ["idp-beta"]}}
    assert social_sign_in(user, data) == {"Moderators"}


def test_the_group_claim_comes_from_the_id_token_without_one_in_the_user_info(user, group_map):
    data = {"userinfo": {"groups": ["idp-mods"]}, "id_token": {"roles": ["idp-beta"]}}
    assert social_sign_in(user, data) == {"Beta"}
    assert social_sign_in(user, {"userinfo": None, "id_token": {"roles": "idp-mods"}}) == {
        "Moderators"
    }


@pytest.mark.parametrize("data", [None, {}, {"userinfo": {"groups": ["idp-mods"]}}])
def test_without_the_claim_the_groups_stay(user, group_map, data):
    user.groups.add(Group.objects.create(name="Beta"))
    assert social_sign_in(user, data) == {"Beta"}


def test_a_password_sign_in_leaves_the_groups_alone(user, group_map):
    user.groups.add(Group.objects.create(name="Beta"))
    user_logged_in.send(sender=User, request=sign_in_request(user), user=user)
    assert set(user.groups.values_list("name", flat=True)) == {"Beta"}
