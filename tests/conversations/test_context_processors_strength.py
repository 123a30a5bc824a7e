"""What every page gets from ``context_processors.chat`` (issue 23): the demo banner, shown
in demo mode unless dismissed by its cookie, demo mode asked of the database once per
page, the message limit and the script's words."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from catalogue.models import Model, Provider
from conversations import context_processors
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def page_context(cookie: str | None = None) -> dict:
    request = RequestFactory().get("/")
    if cookie is not None:
        request.COOKIES[context_processors.DEMO_BANNER_COOKIE] = cookie
    return context_processors.chat(request)


@pytest.fixture
def demo(settings):
    """No model anywhere: no catalogue file, no key, no base URL, no catalogue rows."""
    settings.CHATBOT_MODELS = None
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""


@pytest.mark.parametrize("cookie", [None, "", "shown", "Dismissed"])
def test_demo_mode_shows_the_banner_unless_it_was_dismissed(demo, cookie):
    context = page_context(cookie)

    assert context["demo_mode"]() is True
    assert context["demo_banner"]() is True


def test_a_dismissed_banner_stays_away_in_demo_mode(demo):
    context = page_context("dismissed")

    assert context["demo_mode"]() is True
    assert context["demo_banner"]() is False


@pytest.mark.parametrize("cookie", [None, "dismissed"])
def test_with_a_model_there_is_no_demo_banner(settings, cookie):
    settings.OPENAI_API_KEY = "sk-configured"
    context = page_context(cookie)

    assert context["demo_mode"]() is False
    assert context["demo_banner"]() is False


def test_a_model_in_the_catalogue_ends_demo_mode(demo):
    provider = Provider.objects.create(name="local", base_url="http://127.0.0.1:9/v1")
    Model.objects.create(id="m", label="M", provider=provider)

    assert page_context()["demo_mode"]() is False


def test_demo_mode_is_read_from_the_database_once_per_page(demo, django_assert_num_queries):
    context = page_context()

    with django_assert_num_queries(1):
        assert context["demo_mode"]() is True
        assert context["demo_banner"]() is True
        assert context["demo_mode"]() is True


def test_the_page_gets_the_message_limit_and_the_scripts_words(settings):
    settings.CHATBOT_MAX_MESSAGE_CHARS = 1234
    context = page_context()

    assert context["max_message_chars"] == 1234
    assert context["chat_strings"] is context_processors.CHAT_STRINGS
    assert str(context["chat_strings"]["copyCode"]) == "Copy code"


def test_the_chat_page_shows_the_banner_and_limit_from_the_context(demo, client, settings):
    settings.CHATBOT_MAX_MESSAGE_CHARS = 1234
    client.force_login(UserFactory())

    shown = client.get("/").content.decode()
    client.cookies[context_processors.DEMO_BANNER_COOKIE] = "dismissed"
    dismissed = client.get("/").content.decode()

    assert 'id="demo-banner"' in shown and 'id="demo-banner"' not in dismissed
    assert 'maxlength="1234"' in shown
    assert '<script id="chat-strings" type="application/json">' in shown
