"""Reads for the account's security section: second factors, providers, browser sessions."""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount
from allauth.usersessions.models import UserSession

from accounts import policy
from accounts.models import User


def security_overview(user: User) -> dict:
    """What Settings shows under Security."""
    types = set(Authenticator.objects.filter(user_id=user.pk).values_list("type", flat=True))
    return {
        "totp": Authenticator.Type.TOTP in types,
        "passkeys": Authenticator.Type.WEBAUTHN in types,
        "recovery_codes": Authenticator.Type.RECOVERY_CODES in types,
        "mfa_required": policy.mfa_required_by_policy(user),
        "sso_accounts": list(SocialAccount.objects.filter(user_id=user.pk)),
        "sessions": browser_sessions(user),
    }


def browser_sessions(user: User) -> list[UserSession]:
    """The user's signed-in browsers, most recently seen first (ended ones are purged)."""
    sessions = UserSession.objects.purge_and_list(user)
    for session in sessions:
        session.device = describe_device(session.user_agent)
    return sorted(sessions, key=lambda session: session.last_seen_at, reverse=True)


# Checked in order: Edge and Opera also say Chrome, Chrome also says Safari.
BROWSERS = [
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Safari/", "Safari"),
]
SYSTEMS = [
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
]


def describe_device(user_agent: str) -> str:
    """ "Firefox · Windows" from a User-Agent header; the raw header when unknown."""
    browser = next((name for mark, name in BROWSERS if mark in user_agent), None)
    system = next((name for mark, name in SYSTEMS if mark in user_agent), None)
    if browser and system:
        return f"{browser} · {system}"
    return browser or system or user_agent[:60] or "?"
