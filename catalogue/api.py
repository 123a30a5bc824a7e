"""``GET /api/models``: the models the caller may use."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from catalogue import selectors
from chatbot.schema import OperationSchema
from core.serializers import ErrorSerializer


class ModelSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="What `model` takes in POST /api/chat and PATCH.")
    label = serializers.CharField()
    default = serializers.BooleanField(help_text="Used when a conversation names none.")
    vision = serializers.BooleanField(help_text="Whether the model accepts images.")
    contextTokens = serializers.IntegerField(
        source="context_tokens", help_text="The context window, in tokens."
    )


class ModelsView(APIView):
    """The catalogue as the signed-in user sees it: models of other groups are left out."""

    schema = OperationSchema()

    @extend_schema(
        operation_id="models_list",
        summary="Models you may use",
        description="Enabled models your groups may use, the default first.",
        responses={
            200: ModelSerializer(many=True),
            401: OpenApiResponse(ErrorSerializer, description="Missing or invalid credentials."),
        },
        tags=["models"],
    )
    def get(self, request):
        usable = selectors.models_for(request.user)
        default = selectors.default_from(usable).id if usable else None
        return Response(
            [{**ModelSerializer(entry).data, "default": entry.id == default} for entry in usable]
        )
