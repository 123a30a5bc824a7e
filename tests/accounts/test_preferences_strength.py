"""The language chosen in Settings, the cases mutation testing found unchecked: it wins over
the browser's for a signed-in user in sync and async stacks alike, the browser's stays for
everyone else, and an outage reading the user answers 503 instead of a 500."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import iscoroutinefunction
from django.contrib.auth.models import AnonymousUser
from django.db import OperationalError
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.utils import translation
from django.utils.functional import SimpleLazyObject

from accounts.preferences import UserLanguageMiddleware
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

UNAVAILABLE = "The service is temporarily unavailable. Please try again in a moment."


def seen_language(request) -> HttpResponse:
    """A view that answers with the language active for it and the request's code."""
    return HttpResponse(f"{translation.get_language()}|{request.LANGUAGE_CODE}")


async def seen_language_async(request) -> HttpResponse:
    return seen_language(request)


def browser_request(path: str = "/", *, user=None):
    """A request as LocaleMiddleware leaves it for a French browser."""
    request = RequestFactory().get(path)
    translation.activate("fr")
    request.LANGUAGE_CODE = "fr"
    request.user = user or AnonymousUser()

    async def auser():
        return request.user

    request.auser = auser
    return request


@pytest.fixture(autouse=True)
def _reset_language():
    yield
    translation.deactivate()


@pytest.mark.parametrize(
    ("fields", "language"),
    [({"language": "de"}, "de"), ({"language": "es"}, "es"), ({"language": ""}, "fr")],
)
def test_a_signed_in_users_own_language_wins_over_the_browsers(fields, language):
    request = browser_request(user=UserFactory(**fields))
    response = UserLanguageMiddleware(seen_language)(request)
    assert response.content.decode() == f"{language}|{language}"


def test_an_anonymous_visitor_keeps_the_browsers_language():
    response = UserLanguageMiddleware(seen_language)(browser_request())
    assert response.content.decode() == "fr|fr"


def test_the_async_stack_stays_async_and_reads_the_user_asynchronously():
    user = UserFactory(language="de")
    middleware = UserLanguageMiddleware(seen_language_async)
    assert iscoroutinefunction(middleware)
    assert not iscoroutinefunction(UserLanguageMiddleware(seen_language))
    request = browser_request()

    async def auser():
        return user

    request.auser = auser  # request.user (anonymous) must not be what is read
    response = asyncio.run(middleware(request))
    assert response.content.decode() == "de|de"


def test_the_async_stack_keeps_the_browsers_language_for_a_visitor():
    response = asyncio.run(UserLanguageMiddleware(seen_language_async)(browser_request()))
    assert response.content.decode() == "fr|fr"


def assert_unavailable(response, path: str) -> None:
    assert response.status_code == 503
    if path.startswith("/api/"):
        assert json.loads(response.content) == {"detail": UNAVAILABLE, "code": "unavailable"}
    else:
        assert UNAVAILABLE in response.content.decode()


def broken_user():
    raise OperationalError("database is down")


@pytest.mark.parametrize("path", ["/api/chat/sessions", "/settings/"])
def test_an_outage_reading_the_user_is_a_503_logged_with_its_kind(path, caplog):
    request = browser_request(path)
    request.user = SimpleLazyObject(broken_user)
    response = UserLanguageMiddleware(seen_language)(request)
    assert_unavailable(response, path)
    assert caplog.messages == ["service outage: OperationalError"]


@pytest.mark.parametrize("path", ["/api/chat/sessions", "/settings/"])
def test_an_outage_reading_the_user_asynchronously_is_a_503(path, caplog):
    request = browser_request(path)

    async def auser():
        broken_user()

    request.auser = auser
    response = asyncio.run(UserLanguageMiddleware(seen_language_async)(request))
    assert_unavailable(response, path)
    assert caplog.messages == ["service outage: OperationalError"]


def test_settings_page_is_in_the_users_language_whatever_the_browser_asks(user):
    user.language = "de"
    user.save()
    client = Client(HTTP_ACCEPT_LANGUAGE="fr")
    client.force_login(user)
    response = client.get("/settings/")
    assert response.status_code == 200
    assert response["Content-Language"] == "de"
    assert '<html lang="de"' in response.content.decode()
