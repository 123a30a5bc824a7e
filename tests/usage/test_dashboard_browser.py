"""The usage dashboard in a real Chromium, light and dark: its charts drawn with the
period's figures, its table equal to the stored rows, nothing refused by the CSP; and
Settings' usage in a browser far from UTC says its days are UTC. Screenshots are saved."""

from __future__ import annotations

from collections import Counter

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from conversations.models import Message
from tests.browser.conftest import log_in
from tests.factories import UserFactory
from usage.seeding import seed_usage

pytestmark = pytest.mark.browser

CONTRAST = """(selector) => {
    const rgb = (value) => value.match(/\\d+/g).slice(0, 3).map(Number);
    const luminance = ([r, g, b]) => 0.2126 * r + 0.7152 * g + 0.0722 * b;
    const body = getComputedStyle(document.body).backgroundColor;
    const ink = getComputedStyle(document.querySelector(selector)).fill;
    return [luminance(rgb(body)), luminance(rgb(ink))];
}"""


@pytest.fixture
def viewer(db):
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_usage"))
    return staff


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_dashboard_draws_the_periods_figures_in_chromium(
    live_app, browser_context, page, viewer, artifacts_dir, scheme
):
    seed_usage(messages=600, users=8, groups=3, days=14, last_day=timezone.now().date())
    replies = Message.objects.filter(role=Message.Role.ASSISTANT)
    per_day_and_model = Counter(
        (reply.created_at.date().isoformat(), reply.model) for reply in replies
    )
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text))
    page.emulate_media(color_scheme=scheme)
    log_in(browser_context, live_app, viewer)

    response = page.goto(f"{live_app}/admin/usage/usagedashboard/")

    assert response.status == 200
    assert page.locator("svg.usage-chart-svg").count() == 5
    for chart in page.locator("svg.usage-chart-svg").all():
        assert chart.is_visible()
        box = chart.bounding_box()
        assert box["width"] > 300 and box["height"] > 80
    assert page.locator("svg.usage-chart-svg rect").count() > 0
    rows = page.locator("#usage-rows tbody tr").all()
    shown = {
        (row.locator("td").nth(0).inner_text(), row.locator("td").nth(1).inner_text()): int(
            row.locator("td").nth(2).inner_text()
        )
        for row in rows
    }
    assert shown == per_day_and_model
    assert page.get_by_text("Days are UTC days").is_visible()
    background, ink = page.evaluate(CONTRAST, "text.usage-axis")
    # Axis labels stand out from the page: dark on light, light on dark.
    assert abs(background - ink) > 100, (scheme, background, ink)
    assert (background < ink) == (scheme == "dark")
    assert page.js_errors == []
    assert not [text for text in refused if "Content Security Policy" in text]
    page.screenshot(path=str(artifacts_dir / f"usage-dashboard-{scheme}.png"), full_page=True)


def test_settings_usage_in_a_browser_far_from_utc_says_days_are_utc(
    live_app, chromium, user, artifacts_dir
):
    context = chromium.new_context(timezone_id="Pacific/Kiritimati", locale="en-US")
    try:
        log_in(context, live_app, user)
        page = context.new_page()
        assert page.goto(f"{live_app}/settings/").status == 200
        offset = page.evaluate("() => new Date().getTimezoneOffset()")
        section = page.locator("#usage")
        section.scroll_into_view_if_needed()

        assert offset == -14 * 60  # the browser's clock is UTC+14
        assert "Days and months are UTC." in section.inner_text()
        section.screenshot(path=str(artifacts_dir / "usage-settings-utc-plus-14.png"))
    finally:
        context.close()
