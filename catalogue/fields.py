"""The request field that names a model: a string, described in the schema as one of the
catalogue's ids (so clients and Schemathesis see which values are accepted)."""

from __future__ import annotations

from django.db import DatabaseError
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers


class ModelIdField(serializers.CharField):
    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class ModelIdFieldExtension(OpenApiSerializerFieldExtension):
    """The enabled models' ids, read when the schema is generated (a user's groups may
    still refuse one: that is a 400 naming the field)."""

    target_class = ModelIdField

    def map_serializer_field(self, auto_schema, direction) -> dict:
        from catalogue.selectors import catalogue

        try:
            ids = [entry.id for entry in catalogue() if entry.enabled]
        except DatabaseError:
            # Before `migrate` (system checks, `check --deploy` at release) or while the
            # database is down: the schema still generates, without the list.
            return {"type": "string", "description": "An id from GET /api/models."}
        return {"type": "string", "enum": ids}
