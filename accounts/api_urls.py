"""Token API routes (mounted at ``api/auth/``)."""

from django.urls import path

from accounts import api_views

urlpatterns = [
    path("token", api_views.TokenView.as_view(), name="api-token"),
    path("tokens", api_views.TokenListView.as_view(), name="api-tokens"),
    path("tokens/<str:token_key>", api_views.TokenDetailView.as_view(), name="api-token-detail"),
]
