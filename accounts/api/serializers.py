"""Shapes of the token API (camelCase)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.serializers import StrictCharField

# DRF refuses NUL in any text field; the schema says so.
NO_NUL = "^[^\\x00]*$"


@extend_schema_field({"type": "string", "minLength": 1, "maxLength": 254, "pattern": NO_NUL})
class UsernameField(StrictCharField):
    pass


@extend_schema_field({"type": "string", "minLength": 1, "maxLength": 4096, "pattern": NO_NUL})
class PasswordField(StrictCharField):
    pass


class TokenRequestSerializer(serializers.Serializer):
    # Untrimmed, so that what the schema calls valid is what the server checks (a padded
    # name is a wrong name: 401).
    username = UsernameField(
        max_length=254, trim_whitespace=False, help_text="Your username or email address."
    )
    password = PasswordField(max_length=4096, trim_whitespace=False)


class IssuedTokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="The secret; shown this once only.")
    tokenKey = serializers.CharField(help_text="Public prefix that names the token.")
    expiry = serializers.DateTimeField()


class TokenSerializer(serializers.Serializer):
    tokenKey = serializers.CharField(source="token_key")
    created = serializers.DateTimeField()
    expiry = serializers.DateTimeField(allow_null=True)
    current = serializers.SerializerMethodField(help_text="The token making this request.")

    def get_current(self, token) -> bool:
        current = self.context.get("current")
        return current is not None and current.pk == token.pk
