"""Listing, downloading and deleting files: the owner only (another user's id is a 404
everywhere), documents always as downloads, nothing ever sniffed or run."""

from __future__ import annotations

import httpx
import pytest

from accounts import services as account_services
from attachments.models import StoredFile
from tests.attachments import samples
from tests.attachments.samples import content_of, upload
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_document_downloads_as_an_attachment_never_sniffed_or_run(api):
    file_id = upload(api, b"Notes: <b>kept as text</b>", "notes.md").json()["fileId"]

    response = api.get(f"/api/files/{file_id}")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="notes.md"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"].split(";")[0] == "sandbox"
    assert content_of(response) == b"Notes: <b>kept as text</b>"


def test_an_image_is_served_inline_as_its_raster_type(api):
    file_id = upload(api, samples.image_bytes("WEBP"), "shot.txt").json()["fileId"]

    response = api.get(f"/api/files/{file_id}", headers={"Accept": "image/png"})

    assert response.status_code == 200
    assert response["Content-Type"] == "image/webp"
    assert response["Content-Disposition"] == 'inline; filename="shot.txt"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"].split(";")[0] == "sandbox"
    assert content_of(response)[8:12] == b"WEBP"


def test_the_list_holds_only_the_callers_files_newest_first(api, other_api):
    upload(other_api, b"theirs", "theirs.txt")
    first = upload(api, b"first", "first.txt").json()
    second = upload(api, b"second", "second.txt").json()

    response = api.get("/api/files")

    assert response.status_code == 200
    assert [item["fileId"] for item in response.json()] == [second["fileId"], first["fileId"]]
    assert set(response.json()[0]) == {"fileId", "name", "size", "contentType", "kind", "createdAt"}


def test_delete_removes_the_row_and_the_bytes(
    api, file_storage_dir, django_capture_on_commit_callbacks
):
    file_id = upload(api, b"bye", "a.txt").json()["fileId"]
    key = StoredFile.objects.get().key
    assert (file_storage_dir / key).exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"/api/files/{file_id}")

    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert not StoredFile.objects.exists()
    assert not (file_storage_dir / key).exists()
    assert api.get(f"/api/files/{file_id}").status_code == 404


def test_another_users_file_is_not_found_everywhere(api, other_api):
    file_id = upload(other_api, b"private", "diary.txt").json()["fileId"]

    download = api.get(f"/api/files/{file_id}")
    delete = api.delete(f"/api/files/{file_id}")

    assert (download.status_code, download.json()["detail"]) == (404, "File not found.")
    assert (delete.status_code, delete.json()["detail"]) == (404, "File not found.")
    assert StoredFile.objects.filter(pk=file_id).exists()
    assert api.get("/api/files").json() == []


def test_anonymous_requests_are_refused(client):
    assert client.get("/api/files").status_code == 401
    assert client.post("/api/files").status_code == 401


def test_upload_download_and_delete_from_outside(live_app, file_storage_dir, settings):
    """Through uvicorn: a multipart upload by httpx, the download's headers and bytes, the
    delete, and a body past the route's limit refused before it is read."""
    user, other = UserFactory(), UserFactory()
    headers = {"Authorization": f"Bearer {account_services.issue_token(user=user).token}"}
    other_headers = {"Authorization": f"Bearer {account_services.issue_token(user=other).token}"}
    png = samples.image_bytes("PNG", size=(32, 32))
    settings.BODY_LIMITS_BY_PATH = {**settings.BODY_LIMITS_BY_PATH, "/api/files": 4096}

    with httpx.Client(base_url=live_app, headers=headers) as http:
        created = http.post("/api/files", files={"file": ("cat.png", png, "image/png")})
        assert created.status_code == 201, created.text
        file_id = created.json()["fileId"]
        download = http.get(f"/api/files/{file_id}")
        theirs = httpx.get(f"{live_app}/api/files/{file_id}", headers=other_headers)
        too_large = http.post("/api/files", files={"file": ("big.txt", b"x" * 4096)})
        deleted = http.delete(f"/api/files/{file_id}")

    assert download.status_code == 200
    assert download.headers["content-type"] == "image/png"
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.content.startswith(b"\x89PNG")
    assert len(download.content) == created.json()["size"]
    assert theirs.status_code == 404
    assert too_large.status_code == 413
    assert too_large.json()["detail"] == (
        "The request body is larger than the limit of 4096 bytes."
    )
    assert deleted.status_code == 200
    assert not [path for path in file_storage_dir.rglob("*") if path.is_file()]
