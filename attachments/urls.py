"""File API routes (mounted at ``api/``); paths have no trailing slash."""

from django.urls import path

from attachments import api

urlpatterns = [
    path("files", api.FilesView.as_view(), name="api-files"),
    path("files/<uuid:file_id>", api.FileView.as_view(), name="api-file"),
]
