"""Catalogue API routes (mounted at ``api/``)."""

from django.urls import path

from catalogue.api import ModelsView

urlpatterns = [
    path("models", ModelsView.as_view(), name="api-models"),
]
