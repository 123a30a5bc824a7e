"""Each fork of framework code (chatbot.forks) fails its test here when the upstream code it
copied or relies on changes: re-read the upstream function, carry the change over to the
fork, then record the new hash."""

from __future__ import annotations

import hashlib
import inspect
import pkgutil

import chatbot.forks


def changed(recorded: dict[str, str]) -> dict[str, str]:
    """The upstream functions of ``recorded`` whose source no longer has the recorded hash."""
    current = {
        name: hashlib.sha256(inspect.getsource(pkgutil.resolve_name(name)).encode()).hexdigest()
        for name in recorded
    }
    return {name: current[name][:16] for name in recorded if current[name][:16] != recorded[name]}


def assert_unchanged(recorded: dict[str, str]) -> None:
    assert not changed(recorded), f"upstream changed, re-read the fork: {changed(recorded)}"
    for name in recorded:
        # The package's list names every upstream function its forks copy or rely on.
        assert name.split(":")[1].split(".")[0] in chatbot.forks.__doc__, name


def test_inline_middleware_hooks_match_django_5_2_and_csp_4():
    assert_unchanged(
        {
            "django.utils.deprecation:MiddlewareMixin.__init__": "cd0d3fd41f9408eb",
            "django.utils.deprecation:MiddlewareMixin.__acall__": "adf8cbcaf9f11e45",
            "django.middleware.security:SecurityMiddleware.process_request": "3373d262748cbe3e",
            "django.middleware.security:SecurityMiddleware.process_response": "3822bd0d5f79f4a3",
            "django.contrib.sessions.middleware:SessionMiddleware.process_request": (
                "6782d24847e4a926"
            ),
            "django.contrib.sessions.middleware:SessionMiddleware.process_response": (
                "fbaf5503c20d7dd0"
            ),
            "django.middleware.common:CommonMiddleware.process_request": "993f4d1f2084e01e",
            "django.middleware.common:CommonMiddleware.process_response": "eb5ad294e9fbda9b",
            "django.middleware.csrf:CsrfViewMiddleware.process_request": "9aec8dfd81c88a56",
            "django.middleware.csrf:CsrfViewMiddleware.process_view": "cdbdabe04318fc2f",
            "django.middleware.csrf:CsrfViewMiddleware.process_response": "9fe1054c0f64b37f",
            "django.contrib.auth.middleware:AuthenticationMiddleware.process_request": (
                "6dd39b90ad6373e2"
            ),
            "django.contrib.messages.middleware:MessageMiddleware.process_request": (
                "7f4834ba26ee0583"
            ),
            "django.contrib.messages.middleware:MessageMiddleware.process_response": (
                "04469c9493c90e26"
            ),
            "django.middleware.clickjacking:XFrameOptionsMiddleware.process_response": (
                "045e5788270860c6"
            ),
            "django.middleware.locale:LocaleMiddleware.process_request": "d9d2626c77dcfe26",
            "django.middleware.locale:LocaleMiddleware.process_response": "fb2abee032d2e473",
            "csp.middleware:CSPMiddleware.process_request": "bf5a743128a430b8",
            "csp.middleware:CSPMiddleware.process_response": "fa72a0cd0d633c49",
        }
    )


def test_middleware_loading_matches_django_5_2():
    assert_unchanged({"django.core.handlers.base:BaseHandler.load_middleware": "a1fb7ee5f8586195"})


def test_database_thread_dispatch_matches_adrf_0_1_14():
    assert_unchanged(
        {
            "adrf.views:APIView.async_dispatch": "5926f734eb685633",
            "adrf.views:APIView.dispatch": "9c4624488df6fc08",
            "adrf.viewsets:ViewSetMixin.as_view": "60db0348382c5b43",
        }
    )


def test_request_handling_without_a_thread_matches_django_5_2_and_asgiref_3_13():
    assert_unchanged(
        {
            "django.core.handlers.asgi:ASGIHandler.handle": "98faeb5bef800331",
            "django.http.response:HttpResponseBase.close": "84589f5b23acbb23",
            "django.dispatch.dispatcher:Signal._live_receivers": "0a7af5d851f7fd87",
            "asgiref.sync:SyncToAsync.__call__": "6376e33c6d3d94c5",
            "asgiref.sync:ThreadSensitiveContext.__aexit__": "5571fec562fa6e84",
        }
    )


def test_in_memory_layer_matches_channels_4_3():
    assert_unchanged(
        {
            "channels.layers:InMemoryChannelLayer._clean_expired": "604032dae1cc01d2",
            "channels.layers:InMemoryChannelLayer.group_send": "693c3172deb6431b",
        }
    )


def test_async_whitenoise_matches_whitenoise_6_12():
    assert_unchanged({"whitenoise.middleware:WhiteNoiseMiddleware.__call__": "538b06958308b801"})


def test_consumer_dispatch_matches_channels_4_3():
    assert_unchanged({"channels.consumer:AsyncConsumer.dispatch": "39f34e7d4fb0f655"})


def test_one_query_token_check_matches_knox_5_1():
    assert_unchanged({"knox.auth:TokenAuthentication.authenticate_credentials": "9ee8f829395d3547"})


def test_a_changed_upstream_function_is_reported():
    assert changed({"chatbot.forks.layers:FastGroupSendLayer.group_send": "0" * 16})
