"""Single sign-on in Chromium against a loopback OpenID Connect provider: the "Sign in with"
button, the account linked by verified e-mail, and the provider's groups mapped to Django's."""

from __future__ import annotations

import re

from allauth.socialaccount.models import SocialAccount
from django.contrib.auth.models import Group
from oidc_provider_mock import User as ProviderUser
from playwright.sync_api import expect

from tests.accounts.oidc import identity_provider, use_provider
from tests.factories import UserFactory


def test_sign_in_with_the_provider_links_by_email_and_maps_groups(
    live_app, page, settings, artifacts_dir
):
    settings.CHATBOT_OIDC_GROUP_MAP = {"chat-moderators": "Moderators", "chat-beta": "Beta"}
    existing = UserFactory(username="alice", email="alice@corp.example")
    beta = Group.objects.create(name="Beta")
    unmapped = Group.objects.create(name="Local only")
    existing.groups.add(beta, unmapped)
    person = ProviderUser(
        sub="alice-sub",
        claims={
            "email": "alice@corp.example",
            "email_verified": True,
            "name": "Alice Example",
            "groups": ["chat-moderators", "everyone"],
        },
    )
    with identity_provider(person) as issuer:
        use_provider(settings, issuer, name="Corp")
        page.goto(f"{live_app}/accounts/login/")
        page.get_by_role("button", name="Sign in with Corp").click()
        expect(page).to_have_url(re.compile(re.escape(f"{issuer}/oauth2/authorize")))
        page.locator("button[name=sub][value=alice-sub]").click()
        expect(page).to_have_url(f"{live_app}/")

    account = SocialAccount.objects.get(provider="corp", uid="alice-sub")
    assert account.user_id == existing.pk
    names = set(existing.groups.values_list("name", flat=True))
    assert names == {"Moderators", "Local only"}
    page.goto(f"{live_app}/settings/")
    expect(page.locator("#security-sso-title")).to_be_visible()
    page.screenshot(path=artifacts_dir / "accounts-sso-signed-in.png")
    assert not page.js_errors
