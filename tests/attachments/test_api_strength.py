"""The file endpoints' own code: a download streams in 256 KiB chunks read on worker
threads and closes its file, whatever the client says it accepts; every header of a
download; another user's file is a 404 with the same body as a missing one."""

from __future__ import annotations

import io
import threading
import uuid

import pytest
from asgiref.sync import async_to_sync

from attachments.api import chunks_of
from tests.attachments import samples
from tests.attachments.samples import content_of, upload

pytestmark = pytest.mark.django_db


class Handle(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[int] = []
        self.threads: set[int] = set()

    def read(self, size=-1):
        self.reads.append(size)
        self.threads.add(threading.get_ident())
        return super().read(size)

    def close(self) -> None:
        self.threads.add(threading.get_ident())
        super().close()


def test_chunks_are_256_kib_reads_and_the_file_is_closed_after():
    data = bytes(range(256)) * 2049  # two whole chunks and 256 bytes
    handle = Handle(data)

    async def collect():
        return [chunk async for chunk in chunks_of(handle)]

    chunks = async_to_sync(collect)()

    assert [len(chunk) for chunk in chunks] == [262144, 262144, 256]
    assert b"".join(chunks) == data
    assert handle.reads == [262144] * 4
    assert handle.closed
    # On worker threads, never the thread that serves sync code (the database's).
    assert threading.get_ident() not in handle.threads


def test_a_download_abandoned_midway_still_closes_its_file():
    handle = Handle(b"x" * 600_000)

    async def first_chunk():
        stream = chunks_of(handle)
        chunk = await anext(stream)
        await stream.aclose()
        return chunk

    assert len(async_to_sync(first_chunk)()) == 262144
    assert handle.closed
    assert threading.get_ident() not in handle.threads


@pytest.mark.parametrize("accept", ["application/json", "text/html", "image/png"])
def test_a_document_downloads_with_every_header_whatever_is_accepted(api, accept):
    data = b"name,age\nAda,36\n"
    file_id = upload(api, data, "people.csv").json()["fileId"]

    response = api.get(f"/api/files/{file_id}", headers={"Accept": accept})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Length"] == str(len(data))
    assert response["Content-Disposition"] == 'attachment; filename="people.csv"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert response["Cache-Control"] == "private, no-cache"
    assert content_of(response) == data


def test_an_image_downloads_inline_without_a_charset(api):
    file_id = upload(api, samples.image_bytes("GIF"), "anim.gif").json()["fileId"]

    response = api.get(f"/api/files/{file_id}", headers={"Accept": "application/json"})

    assert response["Content-Type"] == "image/gif"
    assert response["Content-Disposition"] == 'inline; filename="anim.gif"'
    assert response["Content-Length"] == str(len(content_of(response)))


def test_another_users_file_answers_as_a_missing_one(api, other_api):
    theirs = upload(other_api, b"private", "diary.txt").json()["fileId"]

    answers = [api.get(f"/api/files/{file_id}").json() for file_id in (theirs, str(uuid.uuid4()))]

    assert answers[0] == answers[1]
    assert answers[0]["detail"] == "File not found."
    assert "private" not in str(api.get("/api/files").json())


def test_a_missing_file_answers_json_formatted_as_asked(api):
    response = api.get(
        f"/api/files/{uuid.uuid4()}", headers={"Accept": "application/json; indent=4"}
    )

    assert response.status_code == 404
    assert response.content.decode().startswith('{\n    "')
