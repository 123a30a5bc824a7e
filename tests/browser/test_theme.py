"""The theme chosen in Settings: light, dark, or the system's (the default)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

LIGHT_BG = "rgb(255, 255, 255)"
DARK_BG = "rgb(21, 23, 27)"


def expect_background(page, colour: str) -> None:
    """The page's background, once it has settled: a saved choice shows after the reload."""
    expect(page.locator("body")).to_have_css("background-color", colour)


@pytest.mark.parametrize("system", ["light", "dark"])
def test_the_theme_chosen_in_settings_wins_over_the_systems(chromium, live_app, user, system):
    context = chromium.new_context(color_scheme=system)
    try:
        log_in(context, live_app, user)
        page = context.new_page()
        page.goto(live_app + "/settings/")
        expect_background(page, DARK_BG if system == "dark" else LIGHT_BG)
        for choice, expected in (("Dark", DARK_BG), ("Light", LIGHT_BG)):
            page.get_by_label(choice, exact=True).check()
            page.get_by_role("button", name="Save preferences").click()
            expect(page.locator(".flash")).to_contain_text("Your preferences were saved.")
            expect_background(page, expected)
            page.goto(live_app + "/")
            expect_background(page, expected)
            page.goto(live_app + "/settings/")
        page.get_by_label("Same as the system").check()
        page.get_by_role("button", name="Save preferences").click()
        # The saved page, not the one the click left: the flash is only on the new one.
        expect(page.locator(".flash")).to_contain_text("Your preferences were saved.")
        expect_background(page, DARK_BG if system == "dark" else LIGHT_BG)
        user.refresh_from_db()
        assert user.theme == "system"
    finally:
        context.close()
