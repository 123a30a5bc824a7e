"""POST /api/files: typed by content (never by name or declared type), within the limits of
each kind and the owner's storage quota; what is stored is what was checked."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from attachments.models import StoredFile
from attachments.storage import file_storage
from tests.attachments import samples
from tests.attachments.samples import upload

pytestmark = pytest.mark.django_db


def stored_bytes(file_id) -> bytes:
    with file_storage().open(StoredFile.objects.get(pk=file_id).key, "rb") as handle:
        return handle.read()


def test_a_png_named_txt_and_declared_text_is_stored_as_a_png_image(api, user):
    response = upload(api, samples.image_bytes("PNG"), "notes.txt", "text/plain")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "notes.txt"
    assert (body["kind"], body["contentType"]) == ("image", "image/png")
    stored = StoredFile.objects.get(pk=body["fileId"])
    assert stored.owner == user and stored.size == body["size"] == len(stored_bytes(stored.pk))
    assert Image.open(io.BytesIO(stored_bytes(stored.pk))).format == "PNG"


@pytest.mark.parametrize(
    ("image_format", "content_type"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp"), ("GIF", "image/gif")],
)
def test_each_raster_image_type_is_accepted(api, image_format, content_type):
    response = upload(api, samples.image_bytes(image_format), "picture")

    assert response.status_code == 201, response.json()
    assert (response.json()["kind"], response.json()["contentType"]) == ("image", content_type)


def test_an_image_is_stored_without_its_exif_location(api):
    original = samples.jpeg_with_location()
    assert Image.open(io.BytesIO(original)).getexif()  # the sample does carry EXIF

    response = upload(api, original, "holiday.jpg")

    stored = stored_bytes(response.json()["fileId"])
    assert not Image.open(io.BytesIO(stored)).getexif()
    assert b"PhoneMaker" not in stored and b"Exif" not in stored


def test_an_html_file_named_png_is_refused_as_html(api):
    page = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"

    response = upload(api, page, "cat.png", "image/png")

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_type"
    assert response.json()["detail"].startswith("Files of type text/html are not accepted")
    assert not StoredFile.objects.exists()


def test_an_svg_with_a_script_is_refused(api):
    svg = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'

    response = upload(api, svg, "logo.svg", "image/svg+xml")

    assert response.status_code == 415
    assert "image/svg+xml" in response.json()["detail"]


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (b"\x00\x01\x02binary", "application/octet-stream"),
        ("caf\xe9".encode("latin-1"), "application/octet-stream"),
        (samples.image_bytes("BMP"), "image/bmp"),
        (samples.spreadsheet_zip(), "spreadsheetml"),
    ],
    ids=["binary", "not UTF-8", "BMP", "XLSX"],
)
def test_other_types_are_refused_naming_the_type(api, data, named):
    response = upload(api, data, "data.txt", "text/plain")

    assert response.status_code == 415
    assert named in response.json()["detail"]


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"# Title\n\nSome *Markdown* text.\n", "text/plain"),
        (b"name,age\nAda,36\nAlan,41\n", "text/csv"),
        (json.dumps({"a": [1, 2]}).encode(), "application/json"),
        (b"def add(a, b):\n    return a + b\n", "text/plain"),
    ],
    ids=["markdown", "csv", "json", "code"],
)
def test_utf8_text_is_a_document_whose_text_the_model_reads(api, data, content_type):
    response = upload(api, data, "whatever.bin")

    assert response.status_code == 201, response.json()
    assert (response.json()["kind"], response.json()["contentType"]) == ("document", content_type)
    assert StoredFile.objects.get().text == data.decode()


def test_a_pdf_with_text_is_read(api):
    response = upload(api, samples.pdf_with_text("Quarterly revenue grew"), "report.pdf")

    assert response.status_code == 201, response.json()
    assert response.json()["contentType"] == "application/pdf"
    assert StoredFile.objects.get().text == "Quarterly revenue grew"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (samples.encrypted_pdf(), "it is encrypted"),
        (samples.blank_pdf(), "its pages hold no text"),
        (b"%PDF-1.4\n1 0 obj <<garbage", "it is damaged or not a PDF"),
    ],
    ids=["encrypted", "image only", "corrupt"],
)
def test_a_pdf_without_readable_text_is_refused_saying_so(api, data, reason):
    response = upload(api, data, "report.pdf")

    assert response.status_code == 400
    assert response.json()["detail"].startswith("No text could be read from this PDF: " + reason)
    assert not StoredFile.objects.exists()


def test_a_pdf_of_more_than_ten_thousand_pages_is_refused(api):
    response = upload(api, samples.blank_pdf(pages=10_001), "long.pdf")

    assert response.status_code == 413
    assert response.json()["detail"] == ("This PDF has 10001 pages, more than the limit of 10000.")


def test_a_docx_is_read_with_its_tables(api):
    data = samples.docx_bytes("Minutes", "Budget approved.", table=[["Item", "Cost"], ["Tea", "4"]])

    response = upload(api, data, "minutes")

    assert response.status_code == 201, response.json()
    assert response.json()["contentType"].endswith("wordprocessingml.document")
    assert StoredFile.objects.get().text == "Minutes\nBudget approved.\nItem | Cost\nTea | 4"


def test_a_docx_that_unpacks_past_the_bound_is_refused_unread(api):
    data = samples.docx_bomb(unpacked_bytes=80 * 1024 * 1024)
    assert len(data) < 1024 * 1024

    response = upload(api, data, "bomb.docx")

    assert response.status_code == 413
    assert "more than the limit of 67108864 bytes" in response.json()["detail"]


def test_a_jpeg_over_40_megapixels_is_refused_before_decoding(api):
    response = upload(api, samples.jpeg_claiming(8000, 5001), "huge.jpg")

    assert response.status_code == 413
    assert response.json()["detail"] == (
        "This image is 8000x5001 pixels, more than the limit of 40 megapixels."
    )


def test_an_image_over_the_image_limit_is_refused(api, settings):
    data = samples.image_bytes("PNG")
    settings.CHATBOT_MAX_IMAGE_BYTES = len(data) - 1

    response = upload(api, data, "a.png")

    assert response.status_code == 413
    assert response.json()["detail"] == (
        f"This image is {len(data)} bytes, more than the limit of {len(data) - 1} bytes."
    )


def test_a_document_over_the_file_limit_is_refused(api, settings):
    settings.CHATBOT_MAX_FILE_BYTES = 10

    response = upload(api, b"eleven char", "a.txt")

    assert response.status_code == 413
    assert response.json()["detail"] == "This file is 11 bytes, more than the limit of 10 bytes."


def test_the_storage_quota_refuses_a_file_saying_how_much_is_used(api, settings):
    settings.CHATBOT_USER_STORAGE_BYTES = 20
    assert upload(api, b"twelve bytes", "a.txt").status_code == 201

    response = upload(api, b"nine more", "b.txt")

    assert response.status_code == 413
    assert response.json()["code"] == "storage_quota"
    assert response.json()["detail"] == (
        "Your files use 12 of your 20 bytes of storage; this file needs 9 bytes more. "
        "Delete files you no longer need."
    )
    assert StoredFile.objects.count() == 1


def test_the_quota_counts_only_the_owners_files(api, other_api, settings):
    settings.CHATBOT_USER_STORAGE_BYTES = 12
    assert upload(other_api, b"twelve bytes", "a.txt").status_code == 201

    assert upload(api, b"twelve bytes", "a.txt").status_code == 201


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\x\\report.pdf", "report.pdf"),
        ("a\x00b\x1f.txt", "ab.txt"),
    ],
)
def test_the_name_is_kept_without_its_path_or_control_characters(api, sent, kept):
    response = upload(api, b"text", sent)

    assert response.json()["name"] == kept
    assert kept not in StoredFile.objects.get().key


def test_an_empty_file_or_missing_field_is_a_clear_400(api):
    empty = upload(api, b"", "a.txt")
    missing = api.post("/api/files", {"other": "x"})

    assert (empty.status_code, empty.json()["detail"]) == (400, "The file is empty.")
    assert missing.status_code == 400
    assert missing.json()["detail"] == "file: Send the file as the multipart field 'file'."
