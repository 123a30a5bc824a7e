"""Signed-in browsers in Chromium: one browser signs the other out from Settings."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.test_accounts_mfa import sign_in_with_password
from tests.factories import UserFactory


def test_one_browser_signs_another_out_from_settings(live_app, chromium, page, artifacts_dir):
    user = UserFactory()
    phone_context = chromium.new_context(user_agent="Mozilla/5.0 (iPhone) Safari/605.1.15")
    try:
        phone = phone_context.new_page()
        sign_in_with_password(phone, live_app, user)
        expect(phone).to_have_url(f"{live_app}/")
        sign_in_with_password(page, live_app, user)
        expect(page).to_have_url(f"{live_app}/")

        page.goto(f"{live_app}/settings/")
        rows = page.locator("#security-sessions tbody tr")
        expect(rows).to_have_count(2)
        other = rows.filter(has_text="Safari · iOS")
        expect(rows.filter(has_text="This browser")).to_have_count(1)
        other.get_by_role("button", name="Sign out").click()
        expect(page.locator(".flash")).to_contain_text("That browser was signed out.")
        expect(rows).to_have_count(1)
        page.screenshot(path=artifacts_dir / "accounts-sessions.png")

        phone.goto(f"{live_app}/settings/")
        expect(phone).to_have_url(f"{live_app}/accounts/login/?next=/settings/")
        page.goto(f"{live_app}/settings/")
        expect(page).to_have_url(f"{live_app}/settings/")
    finally:
        phone_context.close()
