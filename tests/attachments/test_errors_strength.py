"""``attachments.errors`` as raised: each error's status, code, field and sentence exactly,
and the refused type kept on the error."""

from __future__ import annotations

import pytest

from attachments.errors import (
    FileInUse,
    FileNotFound,
    FileTooLarge,
    StorageQuotaExceeded,
    UnreadableFile,
    UnsupportedFileType,
)


def test_an_unsupported_type_is_a_415_naming_the_type_and_the_accepted_ones():
    error = UnsupportedFileType("application/zip")

    assert (error.status_code, error.code, error.field) == (415, "unsupported_type", "file")
    assert error.content_type == "application/zip"
    assert error.detail == (
        "Files of type application/zip are not accepted: send a PNG, JPEG, WebP or GIF image, "
        "UTF-8 text (plain, Markdown, CSV, JSON, code), a PDF or a DOCX document."
    )


@pytest.mark.parametrize(
    ("error", "status", "code", "detail"),
    [
        (FileNotFound(), 404, "not_found", "File not found."),
        (
            FileInUse(),
            409,
            "file_attached",
            "This file is attached to a message and cannot be deleted.",
        ),
        (FileTooLarge("Too big.", field="file"), 413, "too_large", "Too big."),
        (StorageQuotaExceeded("Full.", field="file"), 413, "storage_quota", "Full."),
        (UnreadableFile("Broken.", field="file"), 400, "unreadable", "Broken."),
    ],
)
def test_each_error_has_its_status_and_code(error, status, code, detail):
    assert (error.status_code, error.code, error.detail) == (status, code, detail)
