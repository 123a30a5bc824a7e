"""Usage API routes (mounted at ``api/``)."""

from django.urls import path

from usage.api import UsageView

urlpatterns = [
    path("usage", UsageView.as_view(), name="api-usage"),
]
