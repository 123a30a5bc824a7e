"""Serializer pieces every app's API shares: strict text fields and the error and success
bodies."""

from __future__ import annotations

from rest_framework import serializers


class StrictCharField(serializers.CharField):
    """A text field that refuses any other JSON type instead of coercing it."""

    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="A sentence for the user.")
    code = serializers.CharField()
    field = serializers.CharField(required=False, help_text="The request field at fault.")
    # The stubs see this field shadow Serializer.errors, but DRF's metaclass takes declared
    # fields off the class, so the property is untouched.
    errors = serializers.DictField(  # type: ignore[assignment]
        required=False, help_text="Every problem, by field."
    )
    messageId = serializers.UUIDField(required=False, help_text="The failed reply, if any.")
    sessionId = serializers.UUIDField(required=False)


class SuccessSerializer(serializers.Serializer):
    success = serializers.BooleanField()
