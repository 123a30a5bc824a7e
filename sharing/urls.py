"""Routes of sharing (mounted at the site root): the API's and the shared page's."""

from django.urls import path

from sharing import api, views

urlpatterns = [
    path("api/chat/sessions/<str:session_id>/share", api.ShareView.as_view(), name="api-share"),
    path("api/chat/sessions/<str:session_id>/export", api.ExportView.as_view(), name="api-export"),
    path("api/chat/sessions/<str:session_id>/pin", api.PinView.as_view(), name="api-pin"),
    path(
        "api/chat/sessions/<str:session_id>/archive",
        api.ArchiveView.as_view(),
        name="api-archive",
    ),
    path("api/chat/import", api.ImportView.as_view(), name="api-import"),
    path(
        "api/chat/messages/<str:message_id>/feedback",
        api.FeedbackView.as_view(),
        name="api-feedback",
    ),
    path("s/<str:token>", views.shared_page, name="shared"),
    path("s/<str:token>/continue", views.continue_shared, name="shared-continue"),
]
