"""What an uploaded file is, decided by its bytes (magic numbers, then parsing), never by its
name or the type its sender declared; and what of it the model reads.

Images are decoded and re-encoded by Pillow, so what is stored carries no metadata (EXIF
location) and is a raster image of the type it claims; documents give their text.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from dataclasses import dataclass

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

from attachments.errors import FileTooLarge, UnreadableFile, UnsupportedFileType

MAX_PIXELS = 40_000_000
MAX_PDF_PAGES = 10_000
# A DOCX is a zip: its parts, unpacked, are bounded whatever the zip's own size (zip bombs).
MAX_DOCX_UNPACKED_BYTES = 64 * 1024 * 1024
MAX_DOCX_PARTS = 2_000
HEAD_BYTES = 4096

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
IMAGE_FORMATS = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "WEBP": "image/webp",
    "GIF": "image/gif",
}
# Types refused by name in the 415, recognised by their first bytes.
OTHER_MAGIC = [
    (b"%!PS", "application/postscript"),
    (b"\x1f\x8b", "application/gzip"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"\x00\x00\x01\x00", "image/x-icon"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"Rar!", "application/vnd.rar"),
    (b"\x7fELF", "application/x-executable"),
    (b"MZ", "application/x-msdownload"),
    (b"OggS", "audio/ogg"),
    (b"ID3", "audio/mpeg"),
    (b"\xd0\xcf\x11\xe0", "application/x-ole-storage"),
]
# The WHATWG MIME sniffing standard's HTML signatures: what a browser would take for HTML.
HTML_START = re.compile(
    rb"<(?:!doctype html|html|head|script|iframe|h1|div|font|table|a|style|title|b|body|br|p"
    rb"|!--)[\s>]",
    re.IGNORECASE,
)
# Text may hold tabs, line breaks and form feeds; other control characters mean binary.
BINARY_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Examined:
    """An accepted file: its kind and type, a document's text, an image's re-encoded bytes."""

    kind: str
    content_type: str
    text: str = ""
    image: bytes | None = None


def examine(upload) -> Examined:
    """The file's kind and type from its content; raises a 4xx domain error if refused."""
    upload.seek(0)
    head = upload.read(HEAD_BYTES)
    upload.seek(0)
    if not head:
        raise UnreadableFile("The file is empty.", field="file")
    if image_format(head):
        return _image(upload)
    _within(upload.size, settings.CHATBOT_MAX_FILE_BYTES, "This file")
    if head.startswith(b"%PDF-"):
        return Examined("document", "application/pdf", text=pdf_text(upload))
    if head.startswith(b"PK\x03\x04"):
        return Examined("document", DOCX, text=docx_text(upload))
    for magic, content_type in OTHER_MAGIC:
        if head.startswith(magic):
            raise UnsupportedFileType(content_type)
    if head[4:8] == b"ftyp":
        raise UnsupportedFileType("video/mp4" if b"mp4" in head[8:12] else "image/heic")
    return _text(upload.read())


def image_format(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def _within(size: int, limit: int, what: str) -> None:
    if size > limit:
        raise FileTooLarge(
            f"{what} is {size} bytes, more than the limit of {limit} bytes.", field="file"
        )


def _image(upload) -> Examined:
    _within(upload.size, settings.CHATBOT_MAX_IMAGE_BYTES, "This image")
    try:
        image = Image.open(upload, formats=list(IMAGE_FORMATS))
    except Image.DecompressionBombError:
        raise FileTooLarge(
            f"This image has more than the limit of {MAX_PIXELS // 1_000_000} megapixels.",
            field="file",
        ) from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise UnreadableFile("The image could not be read: it is damaged.", field="file") from None
    with image:
        frames = _frames(image)
        width, height = image.size
        if width * height * frames > MAX_PIXELS:
            raise FileTooLarge(
                f"This image is {width}x{height} pixels"
                + (f" in {frames} frames" if frames > 1 else "")
                + f", more than the limit of {MAX_PIXELS // 1_000_000} megapixels.",
                field="file",
            )
        try:
            encoded = _reencoded(image)
        except (OSError, ValueError, SyntaxError, EOFError):
            raise UnreadableFile(
                "The image could not be read: it is damaged.", field="file"
            ) from None
    return Examined("image", IMAGE_FORMATS[_format(image)], image=encoded)


def _format(image: Image.Image) -> str:
    """Pillow's name of the format; a multi-picture JPEG (MPO: the depth or stereo pictures
    some cameras add) is a JPEG, kept as its first picture."""
    return "JPEG" if image.format == "MPO" else image.format or ""


def _frames(image: Image.Image) -> int:
    """The frames kept: an animation's; one of a multi-picture JPEG."""
    return 1 if image.format == "MPO" else getattr(image, "n_frames", 1)


def _reencoded(image: Image.Image) -> bytes:
    """The pixels again in the same format, without EXIF, XMP or text chunks; a JPEG is
    turned upright first, as its dropped orientation tag said."""
    image_format = _format(image)
    out = io.BytesIO()
    options = {"format": image_format}
    if icc_profile := image.info.get("icc_profile"):
        options["icc_profile"] = icc_profile
    if _frames(image) > 1:
        image.save(out, save_all=True, **options)
    elif image_format == "JPEG":
        ImageOps.exif_transpose(image).save(out, quality=90, **options)
    else:
        image.load()
        image.save(out, **options)
    return out.getvalue()


def pdf_text(upload) -> str:
    from pypdf import PdfReader

    unreadable = "No text could be read from this PDF: {}."
    try:
        reader = PdfReader(upload)
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableFile(unreadable.format("it is encrypted"), field="file")
        pages = len(reader.pages)
        if pages > MAX_PDF_PAGES:
            raise FileTooLarge(
                f"This PDF has {pages} pages, more than the limit of {MAX_PDF_PAGES}.",
                field="file",
            )
        text = "\n\n".join((page.extract_text() or "").strip() for page in reader.pages)
    except (UnreadableFile, FileTooLarge):
        raise
    except Exception:  # noqa: BLE001 - pypdf raises many kinds of errors on a damaged file
        raise UnreadableFile(
            unreadable.format("it is damaged or not a PDF"), field="file"
        ) from None
    if not text.strip():
        raise UnreadableFile(
            unreadable.format("its pages hold no text (scanned images?)"), field="file"
        )
    return text.strip()


def docx_text(upload) -> str:
    unreadable = "No text could be read from this DOCX: {}."
    try:
        archive = zipfile.ZipFile(upload)
        parts = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise UnsupportedFileType("application/zip") from None
    names = {part.filename for part in parts}
    if "word/document.xml" not in names:
        raise UnsupportedFileType(_zip_type(names))
    unpacked = sum(part.file_size for part in parts)
    if len(parts) > MAX_DOCX_PARTS or unpacked > MAX_DOCX_UNPACKED_BYTES:
        raise FileTooLarge(
            f"This DOCX unpacks to {unpacked} bytes in {len(parts)} parts, more than the "
            f"limit of {MAX_DOCX_UNPACKED_BYTES} bytes in {MAX_DOCX_PARTS} parts.",
            field="file",
        )
    import docx
    from docx.table import Table

    upload.seek(0)
    try:
        document = docx.Document(upload)
        blocks: list[str] = []
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                blocks.extend(
                    " | ".join(cell.text.strip() for cell in row.cells) for row in block.rows
                )
            else:
                blocks.append(block.text)
    except Exception:  # noqa: BLE001 - python-docx and lxml raise many kinds on a damaged file
        raise UnreadableFile(unreadable.format("it is damaged"), field="file") from None
    text = "\n".join(blocks).strip()
    if not text:
        raise UnreadableFile(unreadable.format("it holds no text"), field="file")
    return text


def _zip_type(names: set[str]) -> str:
    if "xl/workbook.xml" in names:
        return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    if "ppt/presentation.xml" in names:
        return "application/vnd.openxmlformats-officedocument.presentationml.presentation"
    if "mimetype" in names:
        return "application/vnd.oasis.opendocument"
    return "application/zip"


def _text(data: bytes) -> Examined:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnsupportedFileType("application/octet-stream") from None
    if BINARY_CHARS.search(text):
        raise UnsupportedFileType("application/octet-stream")
    start = text.lstrip().encode()[:HEAD_BYTES]
    lowered = start.lower()
    if b"<svg" in lowered and (lowered.startswith((b"<svg", b"<?xml", b"<!doctype svg"))):
        raise UnsupportedFileType("image/svg+xml")
    if HTML_START.match(start):
        raise UnsupportedFileType("text/html")
    if start.startswith(b"<?xml"):
        raise UnsupportedFileType("application/xml")
    return Examined("document", _text_type(text), text=text)


def _text_type(text: str) -> str:
    if text.lstrip()[:1] in ("{", "["):
        try:
            json.loads(text)
        except ValueError:
            return "text/plain"
        return "application/json"
    lines = [line for line in text.splitlines()[:20] if line.strip()]
    if len(lines) >= 2:
        widths = {len(row) for row in csv.reader(lines)}
        if len(widths) == 1 and widths.pop() >= 2:
            return "text/csv"
    return "text/plain"
