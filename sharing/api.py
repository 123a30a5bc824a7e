"""REST endpoints for sharing, exporting, importing, organizing and rating conversations:
thin views over sharing's services and selectors (another user's ids answer 404)."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from chatbot.schema import OperationSchema
from conversations.api.serializers import FeedbackSerializer, SessionSerializer
from conversations.api.views import ERRORS, SESSION_ID
from core.serializers import StrictCharField, SuccessSerializer
from sharing import exports, importing, selectors, services
from sharing.models import MessageFeedback

MESSAGE_ID = OpenApiParameter(
    "message_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="An assistant reply."
)
UNSUPPORTED = OpenApiResponse(ERRORS[400].response, description="Unsupported media type.")


def errors(*codes: int) -> dict:
    return {code: UNSUPPORTED if code == 415 else ERRORS[code] for code in codes}


class ShareSerializer(serializers.Serializer):
    shareId = serializers.CharField(source="token", help_text="The link's secret token.")
    url = serializers.SerializerMethodField(help_text="The public page of the snapshot.")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at", help_text="Snapshot time.")

    def get_url(self, share) -> str:
        return self.context["request"].build_absolute_uri(f"/s/{share.token}")


@extend_schema_field(
    {
        "type": "string",
        "maxLength": services.FEEDBACK_COMMENT_MAX_CHARS,
        "pattern": r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$",
    }
)
class CommentField(StrictCharField):
    pass


class FeedbackRequestSerializer(serializers.Serializer):
    rating = serializers.ChoiceField(choices=MessageFeedback.Rating.choices)
    comment = CommentField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=services.FEEDBACK_COMMENT_MAX_CHARS,
        default="",
    )


class ImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="ChatGPT's conversations.json (or the zip holding it), or this app's export."
    )


class ImportResultSerializer(serializers.Serializer):
    imported = serializers.IntegerField()
    skipped = serializers.IntegerField(help_text="Already imported, or not importable.")
    errors = serializers.ListField(
        child=serializers.DictField(), help_text="Why conversations were skipped (index, detail)."
    )


class ExportQuerySerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=["md", "json"], default="json")


class SharingView(APIView):
    schema = OperationSchema()


class ShareView(SharingView):
    @extend_schema(
        operation_id="chat_sessions_share",
        summary="Share a conversation",
        description="A read-only snapshot of the conversation as it is now (messages hidden "
        "by a moderator left out) at a public, unlisted URL; sharing again updates the "
        "snapshot behind the same URL.",
        parameters=[SESSION_ID],
        request=None,
        responses={200: ShareSerializer, **errors(401, 403, 404)},
        tags=["sharing"],
    )
    def post(self, request, session_id):
        share = services.share_session(user=request.user, session_id=session_id)
        return Response(ShareSerializer(share, context={"request": request}).data)

    @extend_schema(
        operation_id="chat_sessions_unshare",
        summary="Stop sharing a conversation",
        description="The shared page answers 404 at once.",
        parameters=[SESSION_ID],
        request=None,
        responses={200: SuccessSerializer, **errors(401, 403, 404)},
        tags=["sharing"],
    )
    def delete(self, request, session_id):
        services.unshare_session(user=request.user, session_id=session_id)
        return Response({"success": True})


class ExportView(SharingView):
    def perform_content_negotiation(self, request, force=False):
        # ``format`` names the export here, not one of DRF's renderers (its URL override).
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="chat_sessions_export",
        summary="Export a conversation",
        description="As Markdown (`format=md`: the current branch, a heading per turn) or "
        "JSON (`format=json`: every branch, `parentId` per message and `currentMessageId`, "
        "attached files' metadata; readable by the import). Text hidden by a moderator is "
        "left out.",
        parameters=[
            SESSION_ID,
            OpenApiParameter(
                "format", {"type": "string", "enum": ["md", "json"]}, OpenApiParameter.QUERY
            ),
        ],
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "text/markdown"): OpenApiTypes.STR,
            **errors(400, 401, 404),
        },
        tags=["sharing"],
    )
    def get(self, request, session_id):
        query = ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        as_markdown = query.validated_data["format"] == "md"
        session, messages = selectors.session_for_export(
            user=request.user, session_id=session_id, every_branch=not as_markdown
        )
        name = f"chat-{session.created_at:%Y-%m-%d}-{str(session.pk)[:8]}"
        if as_markdown:
            response = HttpResponse(
                exports.as_markdown(session, messages), content_type="text/markdown; charset=utf-8"
            )
            response["Content-Disposition"] = f'attachment; filename="{name}.md"'
            return response
        return Response(
            exports.as_json(session, messages),
            headers={"Content-Disposition": f'attachment; filename="{name}.json"'},
        )


class ImportView(SharingView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="chat_import",
        summary="Import conversations",
        description="Multipart upload of ChatGPT's data export (`conversations.json`, or the "
        "zip that holds it) or this app's export. Each conversation becomes one of yours with "
        "every branch (ChatGPT's regenerated answers and edited questions) and its current "
        "message; a conversation imported before is skipped. A file that is "
        "not valid, or cut short, imports nothing and answers 400 saying where.",
        request={"multipart/form-data": ImportRequestSerializer},
        responses={200: ImportResultSerializer, **errors(400, 401, 403, 413, 415)},
        tags=["sharing"],
    )
    def post(self, request):
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationError({"file": ["Attach the export as the multipart field 'file'."]})
        result = importing.import_conversations(user=request.user, upload=upload)
        return Response(
            {"imported": result.imported, "skipped": result.skipped, "errors": result.errors}
        )


def _organize_schema(operation_id: str, summary: str) -> dict:
    return {
        "operation_id": operation_id,
        "summary": summary,
        "description": "The conversation keeps its place by activity (`updatedAt` unchanged).",
        "parameters": [SESSION_ID],
        "request": None,
        "responses": {200: SessionSerializer, **errors(401, 403, 404)},
        "tags": ["sessions"],
    }


class PinView(SharingView):
    @extend_schema(**_organize_schema("chat_sessions_pin", "Pin a conversation"))
    def put(self, request, session_id):
        session = services.organize_session(user=request.user, session_id=session_id, pinned=True)
        return Response(SessionSerializer(session).data)

    @extend_schema(**_organize_schema("chat_sessions_unpin", "Unpin a conversation"))
    def delete(self, request, session_id):
        session = services.organize_session(user=request.user, session_id=session_id, pinned=False)
        return Response(SessionSerializer(session).data)


class ArchiveView(SharingView):
    @extend_schema(**_organize_schema("chat_sessions_archive", "Archive a conversation"))
    def put(self, request, session_id):
        session = services.organize_session(user=request.user, session_id=session_id, archived=True)
        return Response(SessionSerializer(session).data)

    @extend_schema(**_organize_schema("chat_sessions_unarchive", "Unarchive a conversation"))
    def delete(self, request, session_id):
        session = services.organize_session(
            user=request.user, session_id=session_id, archived=False
        )
        return Response(SessionSerializer(session).data)


class FeedbackView(SharingView):
    @extend_schema(
        operation_id="chat_messages_feedback",
        summary="Rate a reply",
        description="Thumbs up or down, with an optional comment, on one of your assistant "
        "replies; rating again replaces the rating. A user message answers 400.",
        parameters=[MESSAGE_ID],
        request=FeedbackRequestSerializer,
        responses={200: FeedbackSerializer, **errors(400, 401, 403, 404, 413)},
        tags=["feedback"],
    )
    def put(self, request, message_id):
        serializer = FeedbackRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        feedback = services.rate_reply(
            user=request.user, message_id=message_id, **serializer.validated_data
        )
        return Response(FeedbackSerializer(feedback).data)

    @extend_schema(
        operation_id="chat_messages_feedback_delete",
        summary="Remove a reply's rating",
        parameters=[MESSAGE_ID],
        request=None,
        responses={200: SuccessSerializer, **errors(400, 401, 403, 404)},
        tags=["feedback"],
    )
    def delete(self, request, message_id):
        services.remove_rating(user=request.user, message_id=message_id)
        return Response({"success": True})
