"""Errors of uploads and downloads, as the domain errors every transport translates."""

from __future__ import annotations

from core.errors import ChatError


class FileNotFound(ChatError):
    status_code = 404
    code = "not_found"
    default_detail = "File not found."


class UnsupportedFileType(ChatError):
    status_code = 415
    code = "unsupported_type"

    def __init__(self, content_type: str) -> None:
        super().__init__(
            f"Files of type {content_type} are not accepted: send a PNG, JPEG, WebP or GIF "
            "image, UTF-8 text (plain, Markdown, CSV, JSON, code), a PDF or a DOCX document.",
            field="file",
        )
        self.content_type = content_type


class FileTooLarge(ChatError):
    status_code = 413
    code = "too_large"


class StorageQuotaExceeded(ChatError):
    status_code = 413
    code = "storage_quota"


class UnreadableFile(ChatError):
    status_code = 400
    code = "unreadable"


class FileInUse(ChatError):
    status_code = 409
    code = "file_attached"
    default_detail = "This file is attached to a message and cannot be deleted."
