"""Conversation API routes (mounted at ``api/``); paths have no trailing slash."""

from django.urls import path

from conversations.api import views

urlpatterns = [
    path("chat", views.ChatView.as_view(), name="api-chat"),
    path("chat/sessions", views.SessionListView.as_view(), name="api-sessions"),
    path(
        "chat/sessions/<str:session_id>",
        views.SessionDetailView.as_view(),
        name="api-session",
    ),
    path(
        "chat/sessions/<str:session_id>/messages",
        views.MessageListView.as_view(),
        name="api-session-messages",
    ),
    path(
        "chat/sessions/<str:session_id>/regenerate",
        views.RegenerateView.as_view(),
        name="api-session-regenerate",
    ),
]
