"""Conversation API routes (mounted at ``api/``); paths have no trailing slash."""

from django.urls import path
from rest_framework.routers import Route, SimpleRouter

from conversations.api import views


class ChatRouter(SimpleRouter):
    """DRF's router, where POST on a conversation renames it as PATCH does (the contract)."""

    routes = [
        route._replace(mapping={**route.mapping, "post": "rename"})
        if isinstance(route, Route) and route.detail
        else route
        for route in SimpleRouter.routes
    ]


router = ChatRouter(trailing_slash=False)
router.register("chat/sessions", views.ChatSessionViewSet, basename="api-session")

urlpatterns = [
    path("chat", views.ChatView.as_view(), name="api-chat"),
    *router.urls,
]
