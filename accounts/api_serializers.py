"""Shapes of the token API (camelCase)."""

from __future__ import annotations

from rest_framework import serializers

from conversations.api.serializers import StrictCharField


class TokenRequestSerializer(serializers.Serializer):
    username = StrictCharField(max_length=254, help_text="Your username or email address.")
    password = StrictCharField(max_length=4096, trim_whitespace=False)


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
