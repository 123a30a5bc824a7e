"""Request and response shapes of the conversation API (camelCase, as in DESIGN.md).

Request fields are strict about JSON types: ``"message": 5`` or ``"stream": "yes"`` is a
client mistake to report, not something to coerce.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import SkipField, empty

from attachments.attaching import MAX_ATTACHMENTS
from attachments.models import StoredFile
from catalogue.fields import ModelIdField
from conversations import payloads, services, titles
from conversations.models import ChatSession, Message
from core.errors import InvalidInput
from core.serializers import StrictCharField

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

    from conversations.selectors import SearchExcerpt

SEARCH_MAX_CHARS = 200


# What services.clean_message and clean_title accept, for the schema: some visible text and
# no control characters other than tab and newlines. (Lone surrogates, also refused, are not
# Unicode characters, so no JSON Schema string holds one; naming them in the pattern made
# generators ignore it.)
_ALLOWED = r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
_VISIBLE = r"[^\s\x00-\x1f\x7f-\x9f]"
TEXT_PATTERN = f"^{_ALLOWED}*{_VISIBLE}{_ALLOWED}*$"


def text_schema(max_length: int) -> dict:
    return {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": TEXT_PATTERN}


@extend_schema_field(text_schema(settings.CHATBOT_MAX_MESSAGE_CHARS))
class MessageField(StrictCharField):
    pass


@extend_schema_field(text_schema(titles.TITLE_MAX_CHARS))
class TitleField(StrictCharField):
    pass


@extend_schema_field(
    {
        "type": "string",
        "maxLength": services.INSTRUCTIONS_MAX_CHARS,
        "pattern": f"^{_ALLOWED}*$",
    }
)
class InstructionsField(StrictCharField):
    """A conversation's own instructions: any text without control characters, or none."""


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": "Must be true or false.", "null": "Must be true or false."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class QueryBooleanField(serializers.Field):
    """A query parameter that is exactly ``true`` or ``false`` (DRF's BooleanField also takes
    ``yes``, ``1``, ``on``..., and an empty value as absent)."""

    default_error_messages = {"invalid": "Must be true or false."}

    def get_value(self, dictionary):
        return dictionary.get(self.field_name, empty)

    def to_internal_value(self, data) -> bool:
        if data not in ("true", "false"):
            self.fail("invalid")
        return data == "true"

    def to_representation(self, value: bool) -> bool:
        return value


class StrictUUIDField(serializers.UUIDField):
    def to_internal_value(self, data):
        if not isinstance(data, str | uuid.UUID):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


def _domain_check(clean, value):
    try:
        return clean(value)
    except InvalidInput as exc:
        raise serializers.ValidationError(exc.detail) from None


class StreamOptionSerializer(serializers.Serializer):
    stream = StrictBooleanField(
        required=False,
        default=False,
        help_text="Answer as Server-Sent Events (text/event-stream) instead of JSON.",
    )


class ChatRequestSerializer(StreamOptionSerializer):
    message = MessageField(
        trim_whitespace=False,
        error_messages={"blank": "The message cannot be empty."},
        help_text="The user's message: not blank, at most CHATBOT_MAX_MESSAGE_CHARS characters.",
    )
    sessionId = StrictUUIDField(
        required=False,
        allow_null=True,
        help_text="Continue this conversation; leave out to start a new one.",
    )
    editMessageId = StrictUUIDField(
        required=False,
        allow_null=True,
        help_text="Edit and resend: the id of one of your messages. The new message becomes "
        "its sibling (same parent), gets a reply, and the new branch becomes current.",
    )
    model = ModelIdField(
        required=False,
        help_text="A model id from GET /api/models: a new conversation uses it (else the "
        "default); an existing one switches to it from this turn on.",
    )
    attachments = serializers.ListField(
        child=StrictUUIDField(),
        required=False,
        max_length=MAX_ATTACHMENTS,
        help_text="Up to 10 ids of your files (POST /api/files), sent with the message: a "
        "document's text marked with its name, an image as an image part (only to a model "
        "that accepts images, else 400). Documents that do not fit the model's context are "
        "a 400 saying the tokens needed and available; another user's or a missing id, 404.",
    )

    def validate_message(self, value: str) -> str:
        return _domain_check(services.clean_message, value)


class RegenerateSerializer(StreamOptionSerializer):
    messageId = StrictUUIDField(
        required=False,
        allow_null=True,
        help_text="The assistant reply to answer again (default: the current leaf's reply); "
        "it is kept, and the new reply, its sibling, becomes current.",
    )


class RenameSerializer(serializers.Serializer):
    title = TitleField(
        trim_whitespace=False,
        max_length=titles.TITLE_MAX_CHARS,
        error_messages={
            "blank": "The title cannot be empty.",
            "max_length": f"The title can be at most {titles.TITLE_MAX_CHARS} characters.",
        },
        help_text="1 to 255 characters.",
    )

    def validate_title(self, value: str) -> str:
        return _domain_check(titles.clean_title, value)


class SessionUpdateSerializer(RenameSerializer):
    """A rename, a switch of branch, a model or instructions, pinning, archiving: any of them."""

    currentMessageId = StrictUUIDField(
        required=False,
        help_text="Switch branch: the current leaf becomes the newest leaf under this "
        "message (at each step its most recently created child).",
    )
    model = ModelIdField(required=False, help_text="A model id from GET /api/models.")
    instructions = InstructionsField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        # The length is the service's to refuse, with the count (the schema states it).
        help_text="This conversation's own system prompt, added after your custom "
        "instructions (empty: none).",
    )
    pinned = StrictBooleanField(
        required=False, help_text="Pinned conversations are listed before the others."
    )
    archived = StrictBooleanField(
        required=False,
        help_text="Archived conversations leave the list (GET ?archived=true lists them) "
        "but stay searchable; false restores one.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["title"].required = False

    def validate(self, attrs: dict) -> dict:
        # The schema allows no other field (so that one of these is sent): a stray one is a
        # client mistake to report, not to ignore.
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({unknown[0]: ["Not a field of this request."]})
        if not attrs:
            raise serializers.ValidationError(
                {
                    "title": [
                        "A title, a currentMessageId, a model, instructions, pinned or "
                        "archived is required."
                    ]
                }
            )
        return attrs


class SessionUpdateSchema(OpenApiSerializerExtension):
    """At least one field and no other: what OpenAPI cannot say of a serializer's fields."""

    target_class = SessionUpdateSerializer

    def map_serializer(self, auto_schema, direction) -> dict:
        schema = auto_schema._map_basic_serializer(self.target, direction)
        return {**schema, "minProperties": 1, "additionalProperties": False}


class ChatReplySerializer(serializers.Serializer):
    message = serializers.CharField(help_text="The assistant's reply.")
    sessionId = serializers.UUIDField()
    messageId = serializers.UUIDField(help_text="The id of the assistant's reply.")
    status = serializers.ChoiceField(
        choices=[Message.Status.COMPLETE, Message.Status.CANCELLED],
        help_text="cancelled when the reply was stopped (from the browser) before the end.",
    )


class SessionSerializer(serializers.ModelSerializer):
    sessionId = serializers.UUIDField(source="id", read_only=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)
    currentMessageId = serializers.UUIDField(
        source="current_message_id",
        read_only=True,
        allow_null=True,
        help_text="The current leaf: the last message of the branch shown and continued.",
    )
    pinned = serializers.BooleanField(read_only=True, help_text="Listed before the others.")
    archived = serializers.BooleanField(
        read_only=True, help_text="Left out of the list (but not of a search)."
    )

    class Meta:
        model = ChatSession
        fields = [
            "sessionId",
            "title",
            "currentMessageId",
            "model",
            "instructions",
            "pinned",
            "archived",
            "createdAt",
            "updatedAt",
        ]
        read_only_fields = fields


class SnippetField(serializers.CharField):
    """Where a search matched: present only in the answer to a search."""

    def get_attribute(self, session: WithAnnotations[ChatSession, SearchExcerpt]) -> str:
        query = self.context.get("query", "").strip()
        if not query:
            raise SkipField()
        return payloads.search_snippet(text=session.search_excerpt or session.title, query=query)


class SessionListItemSerializer(SessionSerializer):
    snippet = SnippetField(
        required=False,
        help_text="With `q` only. HTML: the text around the first match in a message (else "
        "the title), escaped, with each match in `<mark>`.",
    )

    class Meta(SessionSerializer.Meta):
        fields = [*SessionSerializer.Meta.fields, "snippet"]
        read_only_fields = SessionSerializer.Meta.fields


class SessionListQuerySerializer(serializers.Serializer):
    # CharField refuses NUL itself (ProhibitNullCharactersValidator).
    q = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=SEARCH_MAX_CHARS,
        help_text="Search titles and message text.",
    )
    archived = QueryBooleanField(required=False, help_text="true: only the archived ones.")


class FeedbackSerializer(serializers.Serializer):
    rating = serializers.ChoiceField(choices=["up", "down"])
    comment = serializers.CharField(allow_blank=True)


class AttachmentSerializer(serializers.Serializer):
    """A file on a message, as ``POST /api/files`` described it."""

    fileId = serializers.UUIDField()
    name = serializers.CharField()
    size = serializers.IntegerField(help_text="Bytes.")
    contentType = serializers.CharField()
    kind = serializers.ChoiceField(choices=StoredFile.Kind.choices)


class MessageSerializer(serializers.Serializer):
    """The same payload the browser's WebSocket receives (hidden text is blanked there)."""

    messageId = serializers.UUIDField()
    sessionId = serializers.UUIDField()
    parentId = serializers.UUIDField(
        allow_null=True, help_text="The message this one follows; null for the first."
    )
    siblingIds = serializers.ListField(
        child=serializers.UUIDField(),
        help_text="The messages with the same parent, this one included, oldest first.",
    )
    role = serializers.ChoiceField(choices=Message.Role.choices)
    content = serializers.CharField(help_text="Empty when a moderator removed the message.")
    status = serializers.ChoiceField(choices=Message.Status.choices)
    hidden = serializers.BooleanField(help_text="True when a moderator removed the message.")
    createdAt = serializers.DateTimeField()
    attachments = AttachmentSerializer(
        many=True, help_text="The files sent with a user's message; none when hidden."
    )
    feedback = FeedbackSerializer(
        allow_null=True, help_text="Your rating of an assistant reply; null if none."
    )

    def to_representation(self, instance: Message) -> dict[str, Any]:
        # A plain dict: DRF types a serializer's output so, and a TypedDict is not one.
        return dict(payloads.message_payload(instance))
