"""The API is DRF viewsets on routers, with the contract's paths exactly (no trailing slash),
and only the routes that answer with a reply are async views."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import iscoroutinefunction
from django.urls import resolve

from accounts.api.views import TokenViewSet
from conversations.api.views import ChatSessionViewSet

SESSION = f"/api/chat/sessions/{uuid.uuid4()}"


@pytest.mark.parametrize(
    ("path", "viewset", "actions", "is_async"),
    [
        ("/api/chat/sessions", ChatSessionViewSet, {"get": "list"}, False),
        (
            SESSION,
            ChatSessionViewSet,
            {"get": "retrieve", "post": "rename", "patch": "partial_update", "delete": "destroy"},
            False,
        ),
        (f"{SESSION}/messages", ChatSessionViewSet, {"get": "messages"}, False),
        (f"{SESSION}/regenerate", ChatSessionViewSet, {"post": "regenerate"}, True),
        ("/api/auth/tokens", TokenViewSet, {"get": "list"}, False),
        ("/api/auth/tokens/abc", TokenViewSet, {"delete": "destroy"}, False),
        ("/api/auth/token", TokenViewSet, {"post": "sign_in", "delete": "revoke_current"}, False),
    ],
)
def test_each_path_is_a_viewset_route_sync_unless_it_answers_with_a_reply(
    path, viewset, actions, is_async
):
    view = resolve(path).func

    assert issubclass(view.cls, viewset)
    assert {method: name for method, name in view.actions.items() if method != "head"} == actions
    assert iscoroutinefunction(view) is is_async


def test_sending_stays_an_async_view():
    assert iscoroutinefunction(resolve("/api/chat").func)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/api/chat/sessions/", f"{SESSION}/", f"{SESSION}/messages/", "/api/auth/tokens/"]
)
def test_a_trailing_slash_is_no_path_of_the_api(api, path):
    response = api.get(path)

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.django_db
def test_any_session_id_reaches_the_view_and_a_malformed_one_is_a_missing_conversation(api):
    # DRF's routers refuse ids with a dot by default; the contract answers as for any bad id.
    response = api.get("/api/chat/sessions/not.a.uuid")

    assert response.status_code == 404
    assert response.json()["detail"] == api.get(SESSION).json()["detail"]
