"""``Authorization: Bearer <token>`` with django-rest-knox tokens (stored hashed)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from chatbot.forks.knox import PresentedTokenAuthentication


class BearerTokenAuthentication(PresentedTokenAuthentication):
    """Knox tokens, checked in one query; a malformed token answers 401 like a wrong one."""


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = BearerTokenAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token from POST /api/auth/token.",
        }
