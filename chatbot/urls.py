"""Top-level URLs: pages, the REST API, its schema and docs, accounts, admin."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("settings/", include("accounts.urls")),
    path("api/", include("conversations.api.urls")),
    path("api/", include("usage.urls")),
    path("api/", include("catalogue.urls")),
    path("api/", include("attachments.urls")),
    path("api/auth/", include("accounts.api.urls")),
    path("v1/", include("openai_api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("", include("sharing.urls")),
    path("", include("conversations.urls")),
]

# Django answers these itself (no matching URL, or a view that raised); under /api/ as JSON.
handler400 = "chatbot.errors.bad_request"
handler403 = "chatbot.errors.permission_denied"
handler404 = "chatbot.errors.page_not_found"
handler500 = "chatbot.errors.server_error"
