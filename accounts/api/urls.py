"""Token API routes (mounted at ``api/auth/``); paths have no trailing slash."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from accounts.api.views import TokenViewSet

router = SimpleRouter(trailing_slash=False)
router.register("tokens", TokenViewSet, basename="api-token")

urlpatterns = [
    # The token making a request is one resource of its own: sign in for it, revoke it.
    path(
        "token",
        TokenViewSet.as_view({"post": "sign_in", "delete": "revoke_current"}),
        name="api-token-current",
    ),
    *router.urls,
]
