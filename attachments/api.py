"""REST endpoints for files: thin views over attachments' services and selectors (another
user's file answers 404)."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from attachments import content, selectors, services
from attachments.models import StoredFile
from attachments.storage import file_storage
from chatbot.schema import OperationSchema
from conversations.api.pagination import ArrayCursorPagination
from conversations.api.views import ERRORS
from core.serializers import SuccessSerializer

FILE_ID = OpenApiParameter(
    "file_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="A file of yours."
)
NOT_FOUND = OpenApiResponse(
    ERRORS[404].response, description="No such file of yours (another user's answers the same)."
)
UNSUPPORTED = OpenApiResponse(
    ERRORS[400].response, description="Not an accepted type; `detail` names the type found."
)
TOO_LARGE = OpenApiResponse(
    ERRORS[400].response,
    description="Over the size limit of its kind, 40 megapixels, or the storage quota "
    "(`detail` says how much is used).",
)
IN_USE = OpenApiResponse(ERRORS[400].response, description="Attached to a message.")
DOWNLOAD_TYPES = [
    *content.IMAGE_FORMATS.values(),
    "text/plain",
    "text/csv",
    "application/json",
    "application/pdf",
    content.DOCX,
]
# Served to its owner only, never run: a document is always a download, and nothing in the
# response may run script or load anything, even when opened directly.
DOWNLOAD_CSP = "sandbox; default-src 'none'"
CHUNK_BYTES = 256 * 1024


async def chunks_of(handle):
    """The file in chunks, each read on a worker thread: Django's ASGI handler would read a
    synchronous iterator (as ``FileResponse`` gives) whole into memory first."""
    read = sync_to_async(handle.read, thread_sensitive=False)
    try:
        while chunk := await read(CHUNK_BYTES):
            yield chunk
    finally:
        await sync_to_async(handle.close, thread_sensitive=False)()


class FileSerializer(serializers.ModelSerializer):
    fileId = serializers.UUIDField(source="id", read_only=True)
    contentType = serializers.CharField(source="content_type", read_only=True)
    kind = serializers.ChoiceField(choices=StoredFile.Kind.choices, read_only=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = StoredFile
        fields = ["fileId", "name", "size", "contentType", "kind", "createdAt"]
        read_only_fields = fields


class UploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="Its type is read from its content, whatever its name or declared type."
    )


class FilePagination(ArrayCursorPagination):
    ordering = ("-created_at", "-id")


class FilesView(APIView):
    schema = OperationSchema()
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="files_list",
        summary="List your files",
        description="Newest first, in pages (`limit`, and `cursor` from the `Link` header).",
        parameters=[
            OpenApiParameter(
                "limit", {"type": "integer", "minimum": 1, "maximum": 200}, OpenApiParameter.QUERY
            ),
            OpenApiParameter(
                "cursor",
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                description="From the `Link` header; a forged one answers 400.",
            ),
        ],
        responses={200: FileSerializer(many=True), 400: ERRORS[400], 401: ERRORS[401]},
        tags=["files"],
    )
    def get(self, request):
        paginator = FilePagination()
        page = paginator.paginate_queryset(selectors.files_of(user=request.user), request, self)
        return paginator.get_paginated_response(FileSerializer(page, many=True).data)

    @extend_schema(
        operation_id="files_upload",
        summary="Upload a file",
        description="Multipart, field `file`. Accepted, by content: PNG, JPEG, WebP and GIF "
        "images (re-encoded without metadata) up to `CHATBOT_MAX_IMAGE_BYTES` and 40 "
        "megapixels; UTF-8 text (plain, Markdown, CSV, JSON, code), PDF and DOCX documents "
        "up to `CHATBOT_MAX_FILE_BYTES`, whose text the model reads. Anything else (SVG and "
        "HTML included) answers 415 naming its type; a PDF or DOCX without readable text 400.",
        request={"multipart/form-data": UploadSerializer},
        responses={
            201: FileSerializer,
            400: ERRORS[400],
            401: ERRORS[401],
            403: ERRORS[403],
            413: TOO_LARGE,
            415: UNSUPPORTED,
        },
        tags=["files"],
    )
    def post(self, request):
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationError({"file": ["Send the file as the multipart field 'file'."]})
        stored = services.upload_file(user=request.user, upload=upload)
        return Response(FileSerializer(stored).data, status=status.HTTP_201_CREATED)


class FileView(APIView):
    schema = OperationSchema()

    def perform_content_negotiation(self, request, force=False):
        # The answer is the file itself, whatever type the client says it accepts.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="files_download",
        summary="Download a file",
        description="The file as stored, to its owner only. Documents always as an "
        "attachment; images inline, as their raster type. `X-Content-Type-Options: nosniff` "
        "and `Content-Security-Policy: sandbox` always.",
        parameters=[FILE_ID],
        responses={
            **{(200, media): OpenApiTypes.BINARY for media in DOWNLOAD_TYPES},
            401: ERRORS[401],
            404: NOT_FOUND,
        },
        tags=["files"],
    )
    def get(self, request, file_id):
        stored = selectors.file_of(user=request.user, file_id=file_id)
        content_type = stored.content_type
        if content_type.startswith("text/"):
            content_type += "; charset=utf-8"
        response = StreamingHttpResponse(
            chunks_of(file_storage().open(stored.key, "rb")), content_type=content_type
        )
        response["Content-Length"] = str(stored.size)
        disposition = content_disposition_header(stored.kind != StoredFile.Kind.IMAGE, stored.name)
        if disposition:  # always, with a name; None only for an inline file without one
            response["Content-Disposition"] = disposition
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = DOWNLOAD_CSP
        response["Cache-Control"] = "private, no-cache"
        return response

    @extend_schema(
        operation_id="files_delete",
        summary="Delete a file",
        description="Removes a file that no message has attached (else 409).",
        parameters=[FILE_ID],
        request=None,
        responses={
            200: SuccessSerializer,
            401: ERRORS[401],
            403: ERRORS[403],
            404: NOT_FOUND,
            409: IN_USE,
        },
        tags=["files"],
    )
    def delete(self, request, file_id):
        services.delete_file(user=request.user, file_id=file_id)
        return Response({"success": True})
