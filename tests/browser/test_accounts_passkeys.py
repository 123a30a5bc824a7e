"""Passkeys in Chromium with its virtual authenticator (the DevTools WebAuthn domain): one is
added from Settings, then serves as the second factor after a password and, alone, as the
whole sign-in."""

from __future__ import annotations

import pytest
from allauth.mfa.models import Authenticator
from playwright.sync_api import expect

from tests.browser.test_accounts_mfa import sign_out
from tests.factories import PASSWORD, UserFactory


@pytest.fixture
def site(live_app, settings) -> str:
    # WebAuthn needs a domain for its relying party (an IP address is refused) and a secure
    # context: Chromium treats http://localhost as one; allauth is told to accept http.
    settings.MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = True
    return live_app.replace("127.0.0.1", "localhost")


@pytest.fixture
def authenticator(page):
    """A platform authenticator with a resident key and user verification (a phone or a
    laptop's fingerprint reader) that says yes to every prompt."""
    session = page.context.new_cdp_session(page)
    session.send("WebAuthn.enable")
    created = session.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    yield session, created["authenticatorId"]
    session.send("WebAuthn.disable")


def credentials(authenticator) -> list:
    session, authenticator_id = authenticator
    return session.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})[
        "credentials"
    ]


def test_a_passkey_added_in_settings_is_a_second_factor_and_a_sign_in_of_its_own(
    site, page, authenticator, artifacts_dir
):
    user = UserFactory()
    page.goto(f"{site}/accounts/login/")
    page.fill("#id_login", user.username)
    page.fill("#id_password", PASSWORD)
    page.press("#id_password", "Enter")
    expect(page).to_have_url(f"{site}/")

    page.goto(f"{site}/settings/")
    page.click("#security-passkey-add")
    page.fill("#id_password", PASSWORD)  # allauth asks for the password again first
    page.press("#id_password", "Enter")
    page.fill("#id_name", "Laptop")
    page.check("#id_passwordless")
    page.click("#mfa_webauthn_add")
    expect(page).not_to_have_url(f"{site}/accounts/2fa/webauthn/add/")
    assert len(credentials(authenticator)) == 1
    assert credentials(authenticator)[0]["isResidentCredential"]
    stored = Authenticator.objects.get(user=user, type=Authenticator.Type.WEBAUTHN)
    assert stored.data["name"] == "Laptop"
    page.goto(f"{site}/settings/")
    expect(page.locator("#security-passkey-status")).to_have_text("On")

    # As the second factor after the password.
    sign_out(page, site)
    page.fill("#id_login", user.username)
    page.fill("#id_password", PASSWORD)
    page.press("#id_password", "Enter")
    expect(page).to_have_url(f"{site}/accounts/2fa/authenticate/")
    page.click("#mfa_webauthn_authenticate")
    expect(page).to_have_url(f"{site}/")

    # Alone: no username, no password.
    sign_out(page, site)
    page.click("#passkey_login")
    expect(page).to_have_url(f"{site}/")
    page.goto(f"{site}/settings/")
    expect(page.locator("#security-sessions")).to_be_visible()
    page.screenshot(path=artifacts_dir / "accounts-passkey-signed-in.png")
    assert not page.js_errors
