"""Small files of each kind, made in the test (Pillow, pypdf's writer, python-docx)."""

from __future__ import annotations

import io
import zipfile

import docx
from asgiref.sync import async_to_sync
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image
from pypdf import PdfReader, PdfWriter

from attachments.models import StoredFile
from attachments.services import upload_file


def image_bytes(image_format: str = "PNG", size=(4, 3), **options) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format=image_format, **options)
    return out.getvalue()


def jpeg_with_location() -> bytes:
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 30.0)}  # GPSInfo: latitude
    exif[0x010F] = "PhoneMaker"
    return image_bytes("JPEG", size=(16, 16), exif=exif)


def jpeg_claiming(width: int, height: int) -> bytes:
    """A tiny JPEG whose header says ``width`` x ``height`` (a decompression bomb's shape)."""
    data = bytearray(image_bytes("JPEG", size=(8, 8)))
    frame = data.index(b"\xff\xc0")
    data[frame + 5 : frame + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def pdf_with_text(text: str) -> bytes:
    """A one-page PDF written by hand: Helvetica, one line of ``text``."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _written(writer: PdfWriter) -> bytes:
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def encrypted_pdf() -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_with_text("Secret plans"))))
    writer.encrypt("a password")
    return _written(writer)


def blank_pdf(pages: int = 1) -> bytes:
    """Pages without text, as a scan's images would be to a text reader."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    return _written(writer)


def docx_bytes(*paragraphs: str, table: list[list[str]] | None = None) -> bytes:
    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for row, values in zip(grid.rows, table, strict=True):
            for cell, value in zip(row.cells, values, strict=True):
                cell.text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def docx_bomb(unpacked_bytes: int) -> bytes:
    """A real DOCX plus one part of zeros that compresses a thousandfold."""
    out = io.BytesIO(docx_bytes("Hello"))
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/media/filler.bin", b"\0" * unpacked_bytes)
    return out.getvalue()


def spreadsheet_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return out.getvalue()


def upload(client: Client, data: bytes, name: str = "file", content_type: str = ""):
    """POST /api/files with ``data`` as the multipart field ``file``."""
    sent = SimpleUploadedFile(name, data, content_type=content_type or "application/octet-stream")
    return client.post("/api/files", {"file": sent})


def content_of(response) -> bytes:
    """The body of a download, streamed asynchronously as under ASGI."""

    async def collect() -> bytes:
        return b"".join([part async for part in response.streaming_content])

    return async_to_sync(collect)()


def stored(user, data: bytes, name: str) -> StoredFile:
    """A file of ``user``'s, uploaded through the service as the API does."""
    return upload_file(user=user, upload=SimpleUploadedFile(name, data))
