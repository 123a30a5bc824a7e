"""The app served over ASGI answers a real browser."""

import pytest

pytestmark = pytest.mark.browser


def test_login_page_loads_in_chromium_without_script_errors(live_app, page):
    response = page.goto(live_app + "/accounts/login/")
    assert response.status == 200
    assert page.locator("input[type=password]").count() >= 1
    assert page.js_errors == []
