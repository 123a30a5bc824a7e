"""The app speaks German, French and Spanish: the browser's language, or the one chosen in
Settings; the script's words and dates follow."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.services import issue_token
from tests.browser.conftest import log_in
from tests.factories import MessageFactory, conversation

pytestmark = pytest.mark.browser


@pytest.fixture
def browser_in(chromium, live_app):
    contexts = []

    def open_page(locale: str, user=None):
        context = chromium.new_context(locale=locale)
        contexts.append(context)
        if user is not None:
            log_in(context, live_app, user)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def test_the_language_follows_the_browser(browser_in, live_app, user):
    session = conversation(user, turns=0, title="Code")
    MessageFactory(session=session, content="code?")
    MessageFactory(session=session, role="assistant", content="```python\nx = 1\n```")
    page = browser_in("fr-FR")
    page.goto(live_app + "/accounts/login/")
    assert page.locator("html").get_attribute("lang") == "fr"
    expect(page.get_by_role("link", name="S’inscrire")).to_be_visible()

    page = browser_in("de-DE", user)
    page.goto(f"{live_app}/c/{session.pk}/")
    assert page.locator("html").get_attribute("lang") == "de"
    expect(page.get_by_role("link", name="+ Neuer Chat")).to_be_visible()
    expect(page.get_by_placeholder("Nachricht an den Assistenten")).to_be_visible()
    # Words of the script come translated from the page.
    expect(page.get_by_role("button", name="Code kopieren")).to_have_text("Kopieren")
    expect(page.get_by_role("button", name="Aktionen für Code")).to_be_visible()


def test_a_language_chosen_in_settings_wins_and_dates_follow(browser_in, live_app, user):
    issue_token(user=user)
    page = browser_in("en-GB", user)
    page.goto(live_app + "/settings/")
    expect(page.get_by_role("heading", name="Settings", exact=True)).to_be_visible()
    page.get_by_label("Language", exact=True).select_option("es")
    page.get_by_role("button", name="Save preferences").click()
    expect(page.get_by_role("heading", name="Ajustes", exact=True)).to_be_visible()
    expect(page.locator(".flash")).to_have_text("Se guardaron sus preferencias.")
    assert page.locator("html").get_attribute("lang") == "es"
    # Spanish dates: day/month/year.
    created = page.locator("td[data-label='Creado']").inner_text()
    token = user.auth_token_set.get()
    assert created.startswith(token.created.strftime("%d/%m/%Y")), created
    page.goto(live_app + "/")
    expect(page.get_by_role("heading", name="Nuevo chat")).to_be_visible()

    page.goto(live_app + "/settings/")
    page.get_by_label("Idioma", exact=True).select_option("")
    page.get_by_role("button", name="Guardar las preferencias").click()
    expect(page.get_by_role("heading", name="Settings", exact=True)).to_be_visible()
    user.refresh_from_db()
    assert user.language == ""
