"""Browser-session tracking and the two-factor set-up gate, the cases mutation testing found
unchecked: "last seen" written once per interval (and on every request at 0), visitors and
requests without a session left alone, each path open during enrolment, the async stack,
and an outage answered with a 503 instead of a 500."""

from __future__ import annotations

import json

import pytest
from allauth.usersessions.models import UserSession
from asgiref.sync import async_to_sync, iscoroutinefunction
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpResponse
from django.test import Client, RequestFactory
from redis.exceptions import ConnectionError as RedisConnectionError

from accounts import middleware
from accounts.middleware import (
    MFA_ENROLMENT_SESSION_KEY,
    MfaEnrolmentMiddleware,
    UserSessionsMiddleware,
)

pytestmark = pytest.mark.django_db

UNAVAILABLE = {
    "detail": "The service is temporarily unavailable. Please try again in a moment.",
    "code": "unavailable",
}
ENROL = "Set up two-factor authentication (an authenticator app or a passkey) before you continue."


def ok(request) -> HttpResponse:
    """The view: it answers with the path of the request it was given."""
    return HttpResponse(f"view of {request.path}")


async def ok_async(request) -> HttpResponse:
    return ok(request)


async def awaited(response):
    return await response


def signed_in(user, agent: str = "Agent/1") -> Client:
    client = Client(HTTP_USER_AGENT=agent)
    client.force_login(user)
    return client


def agents(user) -> list[str]:
    return list(UserSession.objects.filter(user=user).values_list("user_agent", flat=True))


# --- UserSessionsMiddleware


def test_a_signed_in_browser_is_recorded_once_per_interval(user, settings):
    settings.CHATBOT_SESSION_SEEN_INTERVAL = 60
    client = signed_in(user, "Agent/1")
    assert client.get("/settings/").status_code == 200
    assert agents(user) == ["Agent/1"]
    assert client.get("/settings/", HTTP_USER_AGENT="Agent/2").status_code == 200
    assert agents(user) == ["Agent/1"]  # not written again within the interval


def test_an_interval_of_zero_records_every_request(user, settings):
    settings.CHATBOT_SESSION_SEEN_INTERVAL = 0
    client = signed_in(user, "Agent/1")
    client.get("/settings/")
    client.get("/settings/", HTTP_USER_AGENT="Agent/2")
    assert agents(user) == ["Agent/2"]


def test_each_browser_of_a_user_is_recorded_on_its_own(user, settings):
    settings.CHATBOT_SESSION_SEEN_INTERVAL = 60
    signed_in(user, "Agent/1").get("/settings/")
    signed_in(user, "Agent/2").get("/settings/")
    assert sorted(agents(user)) == ["Agent/1", "Agent/2"]


def test_a_visitor_with_a_session_is_not_recorded(settings):
    settings.CHATBOT_SESSION_SEEN_INTERVAL = 60
    client = Client()
    session = client.session
    session["seen"] = True
    session.save()
    assert client.get("/accounts/login/").status_code == 200
    assert not UserSession.objects.exists()


def session_request(user=None, path: str = "/settings/", **session_data):
    request = RequestFactory().get(path, HTTP_USER_AGENT="Agent/async")
    request.session = SessionStore()
    for key, value in session_data.items():
        request.session[key] = value
    request.session.create()
    request.user = user or AnonymousUser()

    async def auser():
        return request.user

    request.auser = auser
    return request


def test_a_request_without_a_session_passes_untracked(user):
    request = RequestFactory().get("/")
    request.user = user
    assert UserSessionsMiddleware(ok)(request).content == b"view of /"
    assert not UserSession.objects.exists()


def test_the_async_stack_records_once_per_interval(user, settings):
    settings.CHATBOT_SESSION_SEEN_INTERVAL = 60
    tracker = UserSessionsMiddleware(ok_async)
    assert iscoroutinefunction(tracker)
    assert not iscoroutinefunction(UserSessionsMiddleware(ok))
    request = session_request(user)
    assert async_to_sync(tracker)(request).content == b"view of /settings/"
    assert agents(user) == ["Agent/async"]
    request.META["HTTP_USER_AGENT"] = "Agent/again"
    async_to_sync(tracker)(request)
    assert agents(user) == ["Agent/async"]


def test_the_async_stack_records_every_request_at_zero_and_no_visitor(user, settings):
    settings.CHATBOT_SESSION_SEEN_INTERVAL = 0
    tracker = UserSessionsMiddleware(ok_async)
    request = session_request(user)
    async_to_sync(tracker)(request)
    request.META["HTTP_USER_AGENT"] = "Agent/again"
    async_to_sync(tracker)(request)
    assert agents(user) == ["Agent/again"]
    assert async_to_sync(tracker)(session_request()).content == b"view of /settings/"
    assert UserSession.objects.count() == 1


def test_the_async_stack_records_each_browser_on_its_own(user, settings):
    settings.CHATBOT_SESSION_SEEN_INTERVAL = 60
    tracker = UserSessionsMiddleware(ok_async)
    for agent in ("Agent/1", "Agent/2"):
        request = session_request(user)
        request.META["HTTP_USER_AGENT"] = agent
        async_to_sync(tracker)(request)
    assert sorted(agents(user)) == ["Agent/1", "Agent/2"]


class DownCache:
    def add(self, *args, **kwargs):
        raise RedisConnectionError("redis is down")

    async def aadd(self, *args, **kwargs):
        raise RedisConnectionError("redis is down")


@pytest.mark.parametrize("view", [ok, ok_async])
def test_a_cache_outage_while_tracking_is_a_503(user, monkeypatch, view, caplog):
    monkeypatch.setattr(middleware, "cache", DownCache())
    response = UserSessionsMiddleware(view)(session_request(user, "/api/chat/sessions"))
    if view is ok_async:
        response = async_to_sync(awaited)(response)
    assert response.status_code == 503
    assert json.loads(response.content) == UNAVAILABLE
    assert not UserSession.objects.exists()
    assert caplog.messages == ["service outage: ConnectionError"]


# --- MfaEnrolmentMiddleware


@pytest.fixture
def enrolling(user) -> Client:
    client = signed_in(user)
    session = client.session
    session[MFA_ENROLMENT_SESSION_KEY] = True
    session.save()
    return client


def test_pages_send_an_enrolling_user_to_two_factor_with_the_reason(enrolling):
    for path in ["/", "/settings/", "/accounts/email/"]:
        response = enrolling.get(path)
        assert (response.status_code, response["Location"]) == (302, "/accounts/2fa/")
    page = enrolling.get("/accounts/2fa/").content.decode()
    assert page.count(ENROL) == 3


def test_the_api_refuses_an_enrolling_user_with_a_403(enrolling):
    response = enrolling.get("/api/auth/tokens")
    assert response.status_code == 403
    assert response.json() == {"detail": ENROL, "code": "mfa_required"}


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/accounts/2fa/", 200),
        ("/accounts/2fa/totp/activate/", 302),  # allauth's own step: reauthenticate first
        ("/accounts/logout/", 200),
        ("/accounts/reauthenticate/", 200),
        ("/static/missing.css", 404),
    ],
)
def test_two_factor_sign_out_reauthentication_and_static_files_stay_open(enrolling, path, status):
    response = enrolling.get(path)
    assert response.status_code == status
    assert response.get("Location") != "/accounts/2fa/"


def test_without_the_flag_nothing_is_held_back(user):
    client = signed_in(user)
    session = client.session
    session[MFA_ENROLMENT_SESSION_KEY] = False
    session.save()
    assert client.get("/settings/").status_code == 200
    assert signed_in(user).get("/settings/").status_code == 200


def with_messages(request):
    request._messages = FallbackStorage(request)
    return request


def test_the_async_stack_holds_an_enrolling_user_back_too(user):
    gate = MfaEnrolmentMiddleware(ok_async)
    assert iscoroutinefunction(gate)
    assert not iscoroutinefunction(MfaEnrolmentMiddleware(ok))
    page = with_messages(session_request(user, "/settings/", **{MFA_ENROLMENT_SESSION_KEY: True}))
    response = async_to_sync(gate)(page)
    assert (response.status_code, response["Location"]) == (302, "/accounts/2fa/")
    assert [str(message) for message in page._messages] == [ENROL]
    api = session_request(user, "/api/auth/tokens", **{MFA_ENROLMENT_SESSION_KEY: True})
    response = async_to_sync(gate)(api)
    assert response.status_code == 403
    assert json.loads(response.content) == {"detail": ENROL, "code": "mfa_required"}
    open_path = session_request(user, "/accounts/2fa/", **{MFA_ENROLMENT_SESSION_KEY: True})
    assert async_to_sync(gate)(open_path).content == b"view of /accounts/2fa/"
    assert async_to_sync(gate)(session_request(user, "/settings/")).content == b"view of /settings/"


@pytest.mark.parametrize("static_url", ["/Xfiles/", "Xfiles/"])
def test_static_files_stay_open_under_any_static_url(user, settings, static_url):
    settings.STATIC_URL = static_url
    request = session_request(user, "/Xfiles/app.css", **{MFA_ENROLMENT_SESSION_KEY: True})
    assert MfaEnrolmentMiddleware(ok)(request).content == b"view of /Xfiles/app.css"


class DownSession(SessionStore):
    def get(self, *args, **kwargs):
        raise RedisConnectionError("redis is down")

    async def aget(self, *args, **kwargs):
        raise RedisConnectionError("redis is down")


@pytest.mark.parametrize("view", [ok, ok_async])
def test_a_session_outage_at_the_gate_is_a_503(user, view, caplog):
    request = session_request(user, "/api/chat/sessions")
    request.session = DownSession()
    response = MfaEnrolmentMiddleware(view)(request)
    if view is ok_async:
        response = async_to_sync(awaited)(response)
    assert response.status_code == 503
    assert json.loads(response.content) == UNAVAILABLE
    assert caplog.messages == ["service outage: ConnectionError"]
