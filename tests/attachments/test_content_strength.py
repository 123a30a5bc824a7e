"""What a file is, asked of ``content.examine`` directly (no request, no database): each
type's signature and the types next to it, every limit at its edge (equal passes, one more
is refused) with its exact sentence, and what is kept of an image and of a document."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageCms
from pypdf import PdfReader, PdfWriter

from attachments import content
from attachments.errors import FileTooLarge, UnreadableFile, UnsupportedFileType
from tests.attachments import samples

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def examine(data: bytes, name: str = "file"):
    return content.examine(SimpleUploadedFile(name, data))


def refusal(data: bytes, error=UnsupportedFileType):
    with pytest.raises(error) as refused:
        examine(data)
    assert refused.value.field == "file"
    return refused.value


def refused_type(data: bytes) -> str:
    error = refusal(data)
    assert error.detail == (
        f"Files of type {error.content_type} are not accepted: send a PNG, JPEG, WebP or GIF "
        "image, UTF-8 text (plain, Markdown, CSV, JSON, code), a PDF or a DOCX document."
    )
    return error.content_type


def decoded(examined) -> Image.Image:
    return Image.open(io.BytesIO(examined.image))


def pdf_pages(*texts: str) -> bytes:
    writer = PdfWriter()
    for text in texts:
        writer.append(PdfReader(io.BytesIO(samples.pdf_with_text(text))))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def zip_of(parts: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return out.getvalue()


# --- Signatures ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"rest", "PNG"),
        (b"\x89PNG\r\n\x1a", None),
        (b"\xff\xd8\xff\xe0", "JPEG"),
        (b"\xff\xd8\xfe", None),
        (b"GIF87a...", "GIF"),
        (b"GIF89a...", "GIF"),
        (b"GIF88a...", None),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "WEBP"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),
        (b"RIFX\x00\x00\x00\x00WEBPVP8 ", None),
        (b"RIFF\x00\x00\x00\x00\x00WEBP", None),
        (b"plain text", None),
    ],
)
def test_image_format_reads_each_signature_exactly(head, expected):
    assert content.image_format(head) == expected


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"%!PS-Adobe-3.0\n", "application/postscript"),
        (b"\x1f\x8b\x08\x00rest", "application/gzip"),
        (b"BM\x00\x00rest", "image/bmp"),
        (b"II*\x00rest", "image/tiff"),
        (b"MM\x00*rest", "image/tiff"),
        (b"\x00\x00\x01\x00rest", "image/x-icon"),
        (b"7z\xbc\xaf\x27\x1crest", "application/x-7z-compressed"),
        (b"Rar!\x1a\x07", "application/vnd.rar"),
        (b"\x7fELF\x02\x01", "application/x-executable"),
        (b"MZ\x90\x00", "application/x-msdownload"),
        (b"OggS\x00\x02", "audio/ogg"),
        (b"ID3\x04\x00", "audio/mpeg"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1", "application/x-ole-storage"),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00", "video/mp4"),
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x00\x00", "image/heic"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "image/heic"),
        # The brand is the four bytes after ftyp: "mp4" just past it is not an MP4.
        (b"\x00\x00\x00\x18ftypavmp4\x00\x00\x00", "image/heic"),
        (b"\x00\x00\x00\x00\x00ftyp\x00\x00\x00\x00", "application/octet-stream"),
        (b"\x00\x00\x00ftypmp42\x00\x00\x00\x00", "application/octet-stream"),
        (b"PK\x03\x04 not a zip at all", "application/zip"),
        (b"text\x00with a NUL", "application/octet-stream"),
        (b"caf\xe9", "application/octet-stream"),
    ],
)
def test_other_types_are_refused_naming_the_type_found(data, content_type):
    assert refused_type(data) == content_type


@pytest.mark.parametrize(
    ("parts", "content_type"),
    [
        (
            {"xl/workbook.xml": b"<w/>"},
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        (
            {"ppt/presentation.xml": b"<p/>"},
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ),
        (
            {"mimetype": b"application/vnd.oasis.opendocument.text"},
            "application/vnd.oasis.opendocument",
        ),
        ({"readme.txt": b"hello"}, "application/zip"),
    ],
)
def test_a_zip_that_is_no_docx_is_refused_as_what_it_is(parts, content_type):
    assert refused_type(zip_of(parts)) == content_type


def test_an_empty_file_is_refused_as_empty():
    error = refusal(b"", UnreadableFile)
    assert error.detail == "The file is empty."


def test_the_type_is_read_from_the_first_4096_bytes_only():
    """Reading the head reads no more than its 4 KiB, and the whole body is read again."""

    class Counting(SimpleUploadedFile):
        sizes: list = []

        def read(self, size=-1):
            self.sizes.append(size)
            return super().read(size)

    text = "x" * 10_000
    upload = Counting("a.txt", text.encode())

    examined = content.examine(upload)

    assert examined.text == text
    assert upload.sizes[0] == 4096


# --- Text ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "content_type"),
    [
        ('{"a": [1, 2]}', "application/json"),
        ("  [1, 2, 3]", "application/json"),
        ("{not json", "text/plain"),
        ("[1, 2", "text/plain"),
        ("a,b\n1,2", "text/csv"),
        ("a,b\n\n1,2\n", "text/csv"),
        ("a\nb\n", "text/plain"),
        ("a,b\n", "text/plain"),
        ("a,b\n1,2,3\n", "text/plain"),
        # Only the first 20 lines decide: a 21st of another width does not matter.
        ("\n".join(["a,b"] * 20 + ["1,2,3"]), "text/csv"),
        ("Tabs\tand\fform feeds\r\nare text.", "text/plain"),
    ],
)
def test_utf8_text_is_typed_by_its_shape(text, content_type):
    examined = examine(text.encode())

    assert (examined.kind, examined.content_type, examined.text) == ("document", content_type, text)
    assert examined.image is None


def test_a_byte_order_mark_is_not_part_of_the_text():
    assert examine("\ufeffHello".encode()).text == "Hello"


@pytest.mark.parametrize(
    ("text", "content_type"),
    [
        ('<svg xmlns="http://www.w3.org/2000/svg"></svg>', "image/svg+xml"),
        ('  <SVG xmlns="http://www.w3.org/2000/svg"></SVG>', "image/svg+xml"),
        ('<?xml version="1.0"?><svg></svg>', "image/svg+xml"),
        ('<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN"><svg></svg>', "image/svg+xml"),
        ('<?xml version="1.0"?><note>hi</note>', "application/xml"),
        # Only the first 4096 bytes are looked at for the svg element.
        ('<?xml version="1.0"?>' + " " * 4072 + "<svg></svg>", "application/xml"),
        ("<!doctype html><p>hi</p>", "text/html"),
        ("<p>hi</p>", "text/html"),
        ("<!-- a comment -->", "text/html"),
        ("<script>alert(1)</script>", "text/html"),
    ],
)
def test_markup_a_browser_would_run_is_refused(text, content_type):
    assert refused_type(text.encode()) == content_type


@pytest.mark.parametrize(
    "text",
    [
        "A drawing: <svg></svg> in the middle of a note.",
        "Use <b>bold</b> sparingly.",
        "<paragraph> is no HTML element.",
    ],
)
def test_text_that_only_mentions_markup_is_a_document(text):
    assert examine(text.encode()).content_type == "text/plain"


def test_a_document_at_the_file_limit_passes_and_one_byte_more_is_refused(settings):
    settings.CHATBOT_MAX_FILE_BYTES = 10
    settings.CHATBOT_MAX_IMAGE_BYTES = 100

    assert examine(b"ten chars!").text == "ten chars!"
    error = refusal(b"eleven char", FileTooLarge)
    assert error.detail == "This file is 11 bytes, more than the limit of 10 bytes."


# --- Images --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image_format", "content_type"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp"), ("GIF", "image/gif")],
)
def test_each_image_is_re_encoded_in_its_own_format(image_format, content_type):
    examined = examine(samples.image_bytes(image_format, size=(5, 3)))

    assert (examined.kind, examined.content_type, examined.text) == ("image", content_type, "")
    assert (decoded(examined).format, decoded(examined).size) == (image_format, (5, 3))


def test_a_jpeg_is_re_encoded_at_quality_90_turned_upright():
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the camera was turned; shown rotated by 90 degrees
    original = Image.new("RGB", (8, 4), (10, 200, 30))
    out = io.BytesIO()
    original.save(out, format="JPEG", exif=exif)

    examined = examine(out.getvalue())

    upright = io.BytesIO()
    Image.open(io.BytesIO(out.getvalue())).rotate(-90, expand=True).save(
        upright, format="JPEG", quality=90
    )
    assert decoded(examined).size == (4, 8)
    assert not decoded(examined).getexif()
    assert examined.image == upright.getvalue()


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "WEBP"])
def test_an_image_keeps_its_colour_profile(image_format):
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = samples.image_bytes(image_format, icc_profile=profile)

    assert decoded(examine(data)).info["icc_profile"] == profile


@pytest.mark.parametrize("count", [2, 3])
def test_an_animated_gif_keeps_its_frames(count):
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)][:count]
    frames = [Image.new("RGB", (4, 4), colour) for colour in colours]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:])

    examined = examine(out.getvalue())

    assert (examined.content_type, decoded(examined).n_frames) == ("image/gif", count)


def test_a_multi_picture_jpeg_is_kept_as_its_first_picture_a_jpeg():
    """Cameras add depth or stereo pictures to a JPEG (MPO): a JPEG to everyone but Pillow."""
    first, second = Image.new("RGB", (6, 4), (200, 0, 0)), Image.new("RGB", (6, 4), (0, 0, 200))
    out = io.BytesIO()
    first.save(out, format="MPO", save_all=True, append_images=[second])

    examined = examine(out.getvalue())

    assert (examined.kind, examined.content_type) == ("image", "image/jpeg")
    assert (decoded(examined).format, decoded(examined).size) == ("JPEG", (6, 4))
    assert getattr(decoded(examined), "n_frames", 1) == 1
    assert decoded(examined).getpixel((3, 2))[0] > 150


def test_an_image_at_the_image_limit_passes_and_one_byte_more_is_refused(settings):
    data = samples.image_bytes("PNG")
    settings.CHATBOT_MAX_IMAGE_BYTES = len(data)
    settings.CHATBOT_MAX_FILE_BYTES = 1

    assert examine(data).content_type == "image/png"
    settings.CHATBOT_MAX_IMAGE_BYTES = len(data) - 1
    error = refusal(data, FileTooLarge)
    assert error.detail == (
        f"This image is {len(data)} bytes, more than the limit of {len(data) - 1} bytes."
    )


def test_pixels_at_the_limit_pass_and_one_row_more_is_refused(monkeypatch):
    monkeypatch.setattr(content, "MAX_PIXELS", 3_000_000)

    assert examine(samples.image_bytes("PNG", size=(2000, 1500))).content_type == "image/png"
    error = refusal(samples.image_bytes("PNG", size=(2000, 1501)), FileTooLarge)
    assert error.detail == ("This image is 2000x1501 pixels, more than the limit of 3 megapixels.")


def test_the_frames_of_an_animation_count_towards_the_pixels(monkeypatch):
    monkeypatch.setattr(content, "MAX_PIXELS", 2_000_000)

    def animation(count: int) -> bytes:
        frames = [Image.new("P", (1000, 1000), colour) for colour in range(count)]
        out = io.BytesIO()
        frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:])
        assert Image.open(out).n_frames == count
        return out.getvalue()

    assert examine(animation(2)).content_type == "image/gif"
    error = refusal(animation(3), FileTooLarge)
    assert error.detail == (
        "This image is 1000x1000 pixels in 3 frames, more than the limit of 2 megapixels."
    )


def test_a_decompression_bomb_is_refused_before_it_is_decoded():
    error = refusal(samples.jpeg_claiming(20_000, 20_000), FileTooLarge)
    assert error.detail == "This image has more than the limit of 40 megapixels."


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
        samples.image_bytes("PNG", size=(64, 64))[:-40],
        samples.image_bytes("JPEG", size=(64, 64))[:200],
    ],
    ids=["header only", "truncated PNG", "truncated JPEG"],
)
def test_a_damaged_image_is_refused_saying_so(data):
    error = refusal(data, UnreadableFile)
    assert error.detail == "The image could not be read: it is damaged."


def test_an_image_signature_is_opened_by_that_formats_reader_only():
    """A PNG's signature on what Pillow's PhotoCD reader would open (it looks at byte 2048
    only): the PNG reader refuses it, and no other reader is asked."""
    data = bytearray(1_000_000)
    data[:8] = b"\x89PNG\r\n\x1a\n"
    data[2048:2055] = b"PCD_IPI"

    error = refusal(bytes(data), UnreadableFile)

    assert error.detail == "The image could not be read: it is damaged."


# --- PDF -----------------------------------------------------------------------------------


def test_a_pdfs_pages_are_read_one_paragraph_each():
    examined = examine(pdf_pages("First page", "Second page"))

    assert (examined.kind, examined.content_type) == ("document", "application/pdf")
    assert examined.text == "First page\n\nSecond page"
    assert examined.image is None


def test_a_pdf_encrypted_without_a_user_password_is_read():
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(samples.pdf_with_text("Open plans"))))
    writer.encrypt(user_password="", owner_password="owner secret")
    out = io.BytesIO()
    writer.write(out)

    assert examine(out.getvalue()).text == "Open plans"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (samples.encrypted_pdf(), "it is encrypted"),
        (samples.blank_pdf(), "its pages hold no text (scanned images?)"),
        (b"%PDF-1.4\n1 0 obj <<garbage", "it is damaged or not a PDF"),
    ],
)
def test_a_pdf_without_readable_text_is_refused_saying_why(data, reason):
    error = refusal(data, UnreadableFile)
    assert error.detail == f"No text could be read from this PDF: {reason}."


def test_pages_at_the_limit_pass_and_one_more_is_refused(monkeypatch):
    monkeypatch.setattr(content, "MAX_PDF_PAGES", 2)

    assert examine(pdf_pages("one", "two")).text == "one\n\ntwo"
    error = refusal(pdf_pages("one", "two", "three"), FileTooLarge)
    assert error.detail == "This PDF has 3 pages, more than the limit of 2."


# --- DOCX ----------------------------------------------------------------------------------


def test_a_docx_gives_its_paragraphs_and_table_rows_in_order():
    data = samples.docx_bytes(
        "  Minutes", "Budget approved.", table=[[" Item ", "Cost"], ["Tea", "4"]]
    )

    examined = examine(data)

    assert (examined.kind, examined.content_type) == ("document", DOCX)
    assert examined.text == "Minutes\nBudget approved.\nItem | Cost\nTea | 4"


def test_a_docx_without_text_or_damaged_is_refused_saying_why():
    empty = refusal(samples.docx_bytes(), UnreadableFile)
    damaged = refusal(
        zip_of({"word/document.xml": b"<not xml", "[Content_Types].xml": b"<"}), UnreadableFile
    )

    assert empty.detail == "No text could be read from this DOCX: it holds no text."
    assert damaged.detail == "No text could be read from this DOCX: it is damaged."


def test_a_docx_at_the_unpacked_bounds_passes_and_past_them_is_refused(monkeypatch):
    data = samples.docx_bytes("Hello")
    parts = zipfile.ZipFile(io.BytesIO(data)).infolist()
    unpacked = sum(part.file_size for part in parts)
    monkeypatch.setattr(content, "MAX_DOCX_PARTS", len(parts))
    monkeypatch.setattr(content, "MAX_DOCX_UNPACKED_BYTES", unpacked)

    assert examine(data).text == "Hello"

    monkeypatch.setattr(content, "MAX_DOCX_UNPACKED_BYTES", unpacked - 1)
    too_big = refusal(data, FileTooLarge)
    monkeypatch.setattr(content, "MAX_DOCX_UNPACKED_BYTES", unpacked)
    monkeypatch.setattr(content, "MAX_DOCX_PARTS", len(parts) - 1)
    too_many = refusal(data, FileTooLarge)

    for error, limit_bytes, limit_parts in (
        (too_big, unpacked - 1, len(parts)),
        (too_many, unpacked, len(parts) - 1),
    ):
        assert error.detail == (
            f"This DOCX unpacks to {unpacked} bytes in {len(parts)} parts, more than the "
            f"limit of {limit_bytes} bytes in {limit_parts} parts."
        )


def test_json_text_keeps_its_exact_text():
    text = json.dumps([{"a": 1}])
    assert examine(text.encode()).text == text
