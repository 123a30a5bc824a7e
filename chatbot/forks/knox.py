"""Knox's token check in one query.

Forks ``knox.auth.TokenAuthentication.authenticate_credentials`` (django-rest-knox 5.1.0),
which also loads every other token of the user to delete the expired ones: a second query
on every API call, and a write now and then on the hot path.
"""

from __future__ import annotations

import re
from hmac import compare_digest

from django.utils import timezone
from knox.auth import TokenAuthentication
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS, knox_settings
from knox.signals import token_expired
from rest_framework.exceptions import AuthenticationFailed

# What knox issues: our prefix and hex digits. Anything else cannot match, and must not
# reach the database as a literal it rejects (PostgreSQL refuses NUL).
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,200}")


class PresentedTokenAuthentication(TokenAuthentication):
    """Only the presented token's expiry is checked; the user's other expired tokens are
    swept elsewhere (accounts.services). A malformed token answers 401 like a wrong one."""

    def authenticate_credentials(self, token: bytes):
        try:
            text = token.decode("utf-8")
        except UnicodeDecodeError:
            text = ""
        if not TOKEN_SHAPE.fullmatch(text):
            raise AuthenticationFailed("Invalid token.")
        digest = hash_token(text)
        candidates = AuthToken.objects.filter(
            token_key=text[: CONSTANTS.TOKEN_KEY_LENGTH]
        ).select_related("user")
        for auth_token in candidates:
            if not compare_digest(digest, auth_token.digest):
                continue
            if auth_token.expiry is not None and auth_token.expiry < timezone.now():
                username = auth_token.user.get_username()
                auth_token.delete()
                token_expired.send(sender=type(self), username=username, source="auth_token")
                break
            if knox_settings.AUTO_REFRESH and auth_token.expiry:
                self.renew_token(auth_token)
            return self.validate_user(auth_token)
        raise AuthenticationFailed("Invalid token.")
