"""The account's security reads, the cases mutation testing found unchecked: every field of
the overview (the user's own factors, providers and browsers only), the browsers most
recently seen first with ended ones purged, and each browser and system a User-Agent names."""

from __future__ import annotations

from datetime import timedelta

import pytest
from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount
from allauth.usersessions.models import UserSession
from django.test import Client
from django.utils import timezone

from accounts import selectors
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0"
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/141.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1"
)


def browser(user, agent: str, *, seen_minutes_ago: int) -> UserSession:
    """A signed-in browser of ``user`` (a live session in the store) last seen that long ago."""
    client = Client()
    client.force_login(user)
    return UserSession.objects.create(
        user=user,
        session_key=client.session.session_key,
        ip="10.6.0.1",
        user_agent=agent,
        last_seen_at=timezone.now() - timedelta(minutes=seen_minutes_ago),
    )


def test_browsers_come_most_recently_seen_first_each_described(user):
    older = browser(user, FIREFOX, seen_minutes_ago=30)
    newest = browser(user, CHROME, seen_minutes_ago=1)
    middle = browser(user, SAFARI_IPHONE, seen_minutes_ago=10)
    browser(UserFactory(), FIREFOX, seen_minutes_ago=0)
    sessions = selectors.browser_sessions(user)
    assert [session.pk for session in sessions] == [newest.pk, middle.pk, older.pk]
    assert [session.device for session in sessions] == [
        "Chrome · Linux",
        "Safari · iOS",
        "Firefox · Windows",
    ]


def test_a_browser_whose_session_ended_is_purged_from_the_list(user):
    live = browser(user, FIREFOX, seen_minutes_ago=5)
    ended = UserSession.objects.create(
        user=user, session_key="x" * 32, ip="10.6.0.2", user_agent=CHROME
    )
    assert [session.pk for session in selectors.browser_sessions(user)] == [live.pk]
    assert not UserSession.objects.filter(pk=ended.pk).exists()


def test_the_overview_shows_the_users_own_security_only(user, settings):
    settings.CHATBOT_REQUIRE_MFA = "off"
    stranger = UserFactory()
    for kind in Authenticator.Type:
        Authenticator.objects.create(user=stranger, type=kind, data={})
    SocialAccount.objects.create(user=stranger, provider="corp", uid="stranger")
    browser(stranger, CHROME, seen_minutes_ago=1)
    assert selectors.security_overview(user) == {
        "totp": False,
        "passkeys": False,
        "recovery_codes": False,
        "mfa_required": False,
        "sso_accounts": [],
        "sessions": [],
    }


@pytest.mark.parametrize(
    ("kinds", "flags"),
    [
        ((Authenticator.Type.TOTP,), (True, False, False)),
        ((Authenticator.Type.WEBAUTHN,), (False, True, False)),
        ((Authenticator.Type.TOTP, Authenticator.Type.RECOVERY_CODES), (True, False, True)),
    ],
)
def test_the_overview_names_each_factor_the_user_has(user, settings, kinds, flags):
    settings.CHATBOT_REQUIRE_MFA = "all"
    for kind in kinds:
        Authenticator.objects.create(user=user, type=kind, data={})
    account = SocialAccount.objects.create(user=user, provider="corp", uid="me")
    seen = browser(user, FIREFOX, seen_minutes_ago=2)
    overview = selectors.security_overview(user)
    assert (overview["totp"], overview["passkeys"], overview["recovery_codes"]) == flags
    assert overview["mfa_required"] is True
    assert overview["sso_accounts"] == [account]
    assert [(session.pk, session.device) for session in overview["sessions"]] == [
        (seen.pk, "Firefox · Windows")
    ]


@pytest.mark.parametrize(
    ("agent", "device"),
    [
        (CHROME.replace("Safari/537.36", "Safari/537.36 Edg/141.0.0.0"), "Edge · Linux"),
        (CHROME.replace("Safari/537.36", "Safari/537.36 OPR/120.0.0.0"), "Opera · Linux"),
        (FIREFOX, "Firefox · Windows"),
        (CHROME, "Chrome · Linux"),
        ("Mozilla/5.0 (X11; Linux x86_64) Chromium/141.0", "Chromium · Linux"),
        (SAFARI_IPHONE, "Safari · iOS"),
        (SAFARI_IPHONE.replace("iPhone; CPU iPhone", "iPad; CPU"), "Safari · iPadOS"),
        ("Mozilla/5.0 (Linux; Android 15; Pixel 9) Chrome/141.0 Mobile", "Chrome · Android"),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) Version/18.0 Safari/605", "Safari · macOS"),
        ("Mozilla/5.0 (X11; CrOS x86_64 16181.0.0) Chrome/141.0", "Chrome · ChromeOS"),
        ("Firefox/140.0", "Firefox"),
        ("Mozilla/5.0 (Windows NT 10.0)", "Windows"),
        ("curl/8.5.0", "curl/8.5.0"),
        ("x" * 61, "x" * 60),
        ("", "?"),
    ],
)
def test_each_browser_and_system_is_named_else_the_header_is_shown(agent, device):
    assert selectors.describe_device(agent) == device


@pytest.mark.parametrize(("fields", "required"), [({}, False), ({"is_staff": True}, True)])
def test_the_overview_says_whether_the_staff_policy_covers_this_user(settings, fields, required):
    settings.CHATBOT_REQUIRE_MFA = "staff"
    assert selectors.security_overview(UserFactory(**fields))["mfa_required"] is required
