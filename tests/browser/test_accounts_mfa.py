"""Two-factor sign-in in Chromium: an authenticator app set up from Settings with codes that
pyotp computes, signing in with its code or a recovery code, and the admin behind it."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD, UserFactory


@pytest.fixture(autouse=True)
def _one_step_of_drift(settings):
    # A code can be used once; the next time step's code lets a test sign in right after
    # setting up, without waiting for the clock.
    settings.MFA_TOTP_TOLERANCE = 1


def next_code(secret: str) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30)


def sign_in_with_password(page, live_app: str, user, next_url: str = "") -> None:
    page.goto(f"{live_app}/accounts/login/{next_url}")
    page.fill("#id_login", user.username)
    page.fill("#id_password", PASSWORD)
    page.press("#id_password", "Enter")


def sign_out(page, live_app: str) -> None:
    page.goto(f"{live_app}/accounts/logout/")
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(f"{live_app}/accounts/login/")


def set_up_authenticator_app(
    page, live_app: str, start: str = "/settings/"
) -> tuple[str, list[str]]:
    page.goto(f"{live_app}{start}")
    page.click(
        "#security-totp-activate" if start == "/settings/" else "main a[href$='/totp/activate/']"
    )
    page.fill("#id_password", PASSWORD)  # allauth asks for the password again first
    page.press("#id_password", "Enter")
    secret = page.input_value("#authenticator_secret")
    page.fill("#id_code", pyotp.TOTP(secret).now())
    page.press("#id_code", "Enter")
    # The activation is answered before the next page is asked for: going there at once
    # could abort the form's submission.
    expect(page).not_to_have_url(re.compile(r"/totp/activate/"))
    page.goto(f"{live_app}/accounts/2fa/recovery-codes/")
    codes = page.input_value("#recovery_codes").split()
    return secret, codes


def test_authenticator_app_set_up_from_settings_then_sign_in_with_code_and_recovery_code(
    live_app, page, artifacts_dir
):
    user = UserFactory()
    sign_in_with_password(page, live_app, user)
    expect(page).to_have_url(f"{live_app}/")
    secret, codes = set_up_authenticator_app(page, live_app)
    assert len(codes) == 10
    page.goto(f"{live_app}/settings/")
    expect(page.locator("#security-totp-status")).to_have_text("On")

    sign_out(page, live_app)
    sign_in_with_password(page, live_app, user)
    expect(page).to_have_url(f"{live_app}/accounts/2fa/authenticate/")
    page.fill("#id_code", "123456")
    page.press("#id_code", "Enter")
    expect(page.locator("main")).to_contain_text("Incorrect code")
    page.fill("#id_code", next_code(secret))
    page.press("#id_code", "Enter")
    expect(page).to_have_url(f"{live_app}/")

    sign_out(page, live_app)
    sign_in_with_password(page, live_app, user)
    page.fill("#id_code", codes[0])
    page.press("#id_code", "Enter")
    expect(page).to_have_url(f"{live_app}/")
    page.screenshot(path=artifacts_dir / "accounts-mfa-recovery-code.png")
    assert not page.js_errors


def test_staff_reach_the_admin_through_allauth_with_their_second_factor(live_app, page):
    staff = UserFactory(is_staff=True, is_superuser=True)
    sign_in_with_password(page, live_app, staff)
    expect(page).to_have_url(f"{live_app}/")
    secret, _codes = set_up_authenticator_app(page, live_app)
    sign_out(page, live_app)

    page.goto(f"{live_app}/admin/login/?next=/admin/")
    expect(page).to_have_url(f"{live_app}/accounts/login/?next=%2Fadmin%2F")
    page.fill("#id_login", staff.username)
    page.fill("#id_password", PASSWORD)
    page.press("#id_password", "Enter")
    expect(page).to_have_url(f"{live_app}/accounts/2fa/authenticate/")
    page.fill("#id_code", next_code(secret))
    page.press("#id_code", "Enter")
    expect(page).to_have_url(f"{live_app}/admin/")
    expect(page.locator("#site-name")).to_be_visible()


def test_the_policy_sends_a_covered_user_to_set_up_an_app_at_sign_in(live_app, page, settings):
    settings.CHATBOT_REQUIRE_MFA = "all"
    user = UserFactory()
    sign_in_with_password(page, live_app, user)
    expect(page).to_have_url(f"{live_app}/accounts/2fa/")
    page.goto(f"{live_app}/")
    expect(page).to_have_url(f"{live_app}/accounts/2fa/")
    expect(page.locator(".flash")).to_contain_text("Set up two-factor authentication")
    set_up_authenticator_app(page, live_app, start="/accounts/2fa/")
    page.goto(f"{live_app}/")
    expect(page).to_have_url(f"{live_app}/")
