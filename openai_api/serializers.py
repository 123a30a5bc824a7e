"""The OpenAPI description of the /v1 endpoints (OpenAI's objects). Requests are read by
``openai_api.requests``, whose rules these state; nothing here validates."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from openai_api.requests import (
    MESSAGES_MAX,
    MODEL_MAX_CHARS,
    STOP_MAX,
    STOP_MAX_CHARS,
    USER_MAX_CHARS,
)

TEXT_PART = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["text"]},
        "text": {"type": "string"},
    },
    "required": ["type", "text"],
}


IMAGE_PART = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["image_url"]},
        "image_url": {
            "type": "object",
            "properties": {
                "url": {
                    "type": "string",
                    "pattern": "^data:image/(png|jpeg|webp|gif);base64,",
                    "description": "The image inline, as a data URL (PNG, JPEG, WebP or GIF, "
                    "at most CHATBOT_MAX_IMAGE_BYTES). Remote URLs are refused, never fetched.",
                },
                "detail": {"type": "string", "enum": ["auto"]},
            },
            "required": ["url"],
        },
    },
    "required": ["type", "image_url"],
}


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "maxLength": settings.CHATBOT_MAX_MESSAGE_CHARS},
            {
                "type": "array",
                "minItems": 1,
                "items": {"oneOf": [TEXT_PART, IMAGE_PART]},
            },
        ],
        "description": "Text, or parts: text parts (joined by newlines) and, in user messages "
        "to a model that accepts images, image parts. Each image is stored as one of your "
        "files, attached to the stored message. Audio and file parts are refused.",
    }
)
class ContentField(serializers.JSONField):
    pass


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "minLength": 1, "maxLength": STOP_MAX_CHARS},
            {
                "type": "array",
                "maxItems": STOP_MAX,
                "items": {"type": "string", "minLength": 1, "maxLength": STOP_MAX_CHARS},
            },
        ],
        "nullable": True,
    }
)
class StopField(serializers.JSONField):
    pass


class ChatCompletionMessageSerializer(serializers.Serializer):
    role = serializers.ChoiceField(
        choices=["system", "developer", "user", "assistant"],
        help_text="`developer` is read as `system`. The last message must be `user`.",
    )
    content = ContentField()


class StreamOptionsSerializer(serializers.Serializer):
    include_usage = serializers.BooleanField(
        required=False, help_text="A last chunk with `usage` and no choices, before `[DONE]`."
    )


class ChatCompletionRequestSerializer(serializers.Serializer):
    model = serializers.CharField(
        max_length=MODEL_MAX_CHARS, help_text="A model from GET /v1/models."
    )
    messages = ChatCompletionMessageSerializer(
        many=True,
        min_length=1,
        max_length=MESSAGES_MAX,
        help_text="Without `X-Chat-Session-Id`: system messages become the new "
        "conversation's instructions, earlier user and assistant messages its history, and "
        "the last (user) message is answered. With it: only the last message is sent.",
    )
    stream = serializers.BooleanField(required=False, allow_null=True)
    stream_options = StreamOptionsSerializer(
        required=False, allow_null=True, help_text="Only with `stream: true`."
    )
    temperature = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=2)
    top_p = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=1)
    max_tokens = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        help_text="Capped at the model's reply reserve.",
    )
    max_completion_tokens = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, help_text="The same as `max_tokens`."
    )
    stop = StopField(required=False)
    user = serializers.CharField(required=False, allow_null=True, max_length=USER_MAX_CHARS)


class AssistantMessageSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=["assistant"])
    content = serializers.CharField()
    refusal = serializers.CharField(allow_null=True)


class ChoiceSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    message = AssistantMessageSerializer()
    logprobs = serializers.JSONField(allow_null=True)
    finish_reason = serializers.ChoiceField(choices=["stop", "length"])


class UsageSerializer(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()


class ChatCompletionSerializer(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.ChoiceField(choices=["chat.completion"])
    created = serializers.IntegerField()
    model = serializers.CharField(
        help_text="The model that answered: the fallback's id when the model asked for was "
        "unavailable and names one."
    )
    choices = ChoiceSerializer(many=True)
    usage = UsageSerializer(allow_null=True)


class OpenAIErrorDetailSerializer(serializers.Serializer):
    message = serializers.CharField()
    type = serializers.CharField()
    param = serializers.CharField(allow_null=True)
    code = serializers.CharField(allow_null=True)


class OpenAIErrorSerializer(serializers.Serializer):
    error = OpenAIErrorDetailSerializer()


class OpenAIModelSerializer(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.ChoiceField(choices=["model"])
    created = serializers.IntegerField()
    owned_by = serializers.CharField()


class OpenAIModelListSerializer(serializers.Serializer):
    object = serializers.ChoiceField(choices=["list"])
    data = OpenAIModelSerializer(many=True)
