"""``GET /api/usage``: the caller's tokens per UTC day and model."""

from __future__ import annotations

from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from chatbot.schema import OperationSchema
from core.serializers import ErrorSerializer
from usage import selectors


class UsageQuerySerializer(serializers.Serializer):
    """``from`` and ``to``: UTC days, both included (``from`` is a keyword in Python)."""

    def get_fields(self) -> dict:
        return {
            "from": serializers.DateField(input_formats=["iso-8601"]),
            "to": serializers.DateField(input_formats=["iso-8601"]),
        }

    def validate(self, data: dict) -> selectors.Period:
        if data["to"] < data["from"]:
            raise serializers.ValidationError({"to": gettext("The period ends before it starts.")})
        if (data["to"] - data["from"]).days >= selectors.MAX_DAYS:
            raise serializers.ValidationError(
                {
                    "to": gettext("The period is longer than %(days)s days.")
                    % {"days": selectors.MAX_DAYS}
                }
            )
        return selectors.Period(start=data["from"], end=data["to"])


class UsageRowSerializer(serializers.Serializer):
    date = serializers.DateField(help_text="The UTC day.")
    model = serializers.CharField(help_text="The model that answered (empty if none did).")
    messages = serializers.IntegerField(
        help_text="Replies started that day that have ended, whatever their status."
    )
    promptTokens = serializers.IntegerField(source="prompt_tokens")
    completionTokens = serializers.IntegerField(source="completion_tokens")
    cachedTokens = serializers.IntegerField(
        source="cached_tokens", help_text="Prompt tokens the model served from its cache."
    )


def _day(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(
        name,
        {"type": "string", "format": "date"},
        OpenApiParameter.QUERY,
        required=True,
        description=description,
    )


class UsageView(APIView):
    """The signed-in user's usage; nobody else's."""

    schema = OperationSchema()

    @extend_schema(
        operation_id="usage_list",
        summary="Your token usage",
        description="Your replies per UTC day and model, from `from` to `to` (both included, "
        f"at most {selectors.MAX_DAYS} days): how many, and their prompt, completion and "
        "cached prompt tokens. Days without replies are left out.",
        parameters=[
            _day("from", "First UTC day, YYYY-MM-DD."),
            _day("to", "Last UTC day, YYYY-MM-DD; not before `from`."),
        ],
        responses={
            200: UsageRowSerializer(many=True),
            400: OpenApiResponse(
                ErrorSerializer, description="A missing or bad date, or a period too long."
            ),
            401: OpenApiResponse(ErrorSerializer, description="Missing or invalid credentials."),
        },
        tags=["usage"],
    )
    def get(self, request):
        query = UsageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = selectors.daily_usage(period=query.validated_data, user=request.user)
        return Response(UsageRowSerializer(rows, many=True).data)
