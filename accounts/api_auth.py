"""``Authorization: Bearer <token>`` with django-rest-knox tokens (stored hashed)."""

from __future__ import annotations

import re

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

# What knox issues: our prefix and hex digits. Anything else cannot match, and must not
# reach the database as a literal it rejects (PostgreSQL refuses NUL).
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,200}")


class BearerTokenAuthentication(TokenAuthentication):
    """Knox tokens; a malformed token answers 401 like a wrong one."""

    def authenticate_credentials(self, token: bytes):
        try:
            text = token.decode("utf-8")
        except UnicodeDecodeError:
            text = ""
        if not TOKEN_SHAPE.fullmatch(text):
            raise AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(token)


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = BearerTokenAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token from POST /api/auth/token.",
        }
