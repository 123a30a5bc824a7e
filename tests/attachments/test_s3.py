"""The same uploads, downloads and deletes with the files in an S3 bucket (django-storages),
against moto's S3 server on loopback: what several app machines would share."""

from __future__ import annotations

import copy
import io
import os
import subprocess
import sys
import zipfile
from datetime import timedelta

import boto3
import httpx
import pytest
from django.core.management import call_command
from django.utils import timezone
from moto.server import ThreadedMotoServer

from accounts import services as account_services
from attachments import attaching, services
from attachments.models import StoredFile
from attachments.storage import file_storage
from conversations.models import Message
from loopback.upstream import free_port
from tests.attachments import samples
from tests.attachments.samples import content_of, upload
from tests.factories import UserFactory, conversation

KEYS = {"aws_access_key_id": "test-key", "aws_secret_access_key": "test-secret"}


@pytest.fixture(scope="session")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint, settings, request):
    """A new bucket, made the attachments storage (as CHATBOT_S3_BUCKET would)."""
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **KEYS)
    name = f"files-{request.node.name.lower().replace('_', '-')[:40]}"
    client.create_bucket(Bucket=name)
    storages = copy.deepcopy(settings.STORAGES)
    storages["attachments"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": name,
            "endpoint_url": s3_endpoint,
            "region_name": "us-east-1",
            "access_key": KEYS["aws_access_key_id"],
            "secret_key": KEYS["aws_secret_access_key"],
            "default_acl": None,
            "file_overwrite": False,
        },
    }
    settings.STORAGES = storages

    def objects() -> dict[str, bytes]:
        listed = client.list_objects_v2(Bucket=name).get("Contents", [])
        return {
            item["Key"]: client.get_object(Bucket=name, Key=item["Key"])["Body"].read()
            for item in listed
        }

    return objects


@pytest.mark.django_db
def test_upload_download_and_delete_with_files_in_s3(
    api, other_api, bucket, django_capture_on_commit_callbacks
):
    document = upload(api, b"Meeting at noon.", "notes.txt").json()
    image = upload(api, samples.jpeg_with_location(), "photo.jpg").json()

    stored = bucket()
    assert set(stored) == set(StoredFile.objects.values_list("key", flat=True))
    assert stored[StoredFile.objects.get(pk=document["fileId"]).key] == b"Meeting at noon."
    assert b"PhoneMaker" not in stored[StoredFile.objects.get(pk=image["fileId"]).key]

    download = api.get(f"/api/files/{document['fileId']}")
    assert download["Content-Disposition"] == 'attachment; filename="notes.txt"'
    assert content_of(download) == b"Meeting at noon."
    assert other_api.get(f"/api/files/{document['fileId']}").status_code == 404
    assert other_api.delete(f"/api/files/{document['fileId']}").status_code == 404

    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/files/{document['fileId']}").status_code == 200
    assert set(bucket()) == {StoredFile.objects.get().key}


@pytest.mark.django_db
def test_refused_files_leave_nothing_in_the_bucket(api, bucket, settings):
    settings.CHATBOT_USER_STORAGE_BYTES = 5

    assert upload(api, b"<svg><script>1</script></svg>", "a.png").status_code == 415
    assert upload(api, b"more than five", "a.txt").status_code == 413
    assert bucket() == {}


def test_outside_in_upload_and_download_with_files_in_s3(live_app, bucket):
    user = UserFactory()
    headers = {"Authorization": f"Bearer {account_services.issue_token(user=user).token}"}
    pdf = samples.pdf_with_text("Shared between machines")

    with httpx.Client(base_url=live_app, headers=headers) as http:
        created = http.post("/api/files", files={"file": ("report.pdf", pdf, "text/plain")})
        download = http.get(f"/api/files/{created.json()['fileId']}")

    assert created.status_code == 201, created.text
    assert created.json()["contentType"] == "application/pdf"
    assert download.status_code == 200
    assert download.headers["content-disposition"] == 'attachment; filename="report.pdf"'
    assert download.content == pdf == next(iter(bucket().values()))


def test_a_bucket_in_the_environment_puts_the_files_in_s3():
    code = "import django; django.setup(); from django.conf import settings; " + (
        "print(settings.STORAGES['attachments'])"
    )
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatbot.settings",
        "DJANGO_SECRET_KEY": "x" * 50,
        "CHATBOT_S3_BUCKET": "chat-files",
        "CHATBOT_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_ACCESS_KEY_ID": "key-id",
        "AWS_SECRET_ACCESS_KEY": "secret",
    }

    started = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True
    )

    assert "storages.backends.s3.S3Storage" in started.stdout
    assert "'bucket_name': 'chat-files'" in started.stdout
    assert "'endpoint_url': 'http://127.0.0.1:9000'" in started.stdout


@pytest.mark.django_db
def test_cleanup_and_a_deleted_conversation_remove_their_files_from_the_bucket(
    api, user, other_user, bucket, django_capture_on_commit_callbacks
):
    abandoned = samples.stored(user, b"never attached", "abandoned.txt")
    recent = samples.stored(user, b"just uploaded", "recent.txt")
    in_conversation = samples.stored(user, b"in a conversation", "attached.txt")
    theirs = samples.stored(other_user, b"theirs", "theirs.txt")
    StoredFile.objects.filter(pk__in=[abandoned.pk, theirs.pk]).update(
        created_at=timezone.now() - timedelta(days=2)
    )
    session = conversation(user, turns=1)
    message = Message.objects.get(session=session, role=Message.Role.USER)
    attaching.attach(message=message, attached=attaching.Attached((in_conversation,)))
    theirs_session = conversation(other_user, turns=1)
    their_message = Message.objects.get(session=theirs_session, role=Message.Role.USER)
    attaching.attach(message=their_message, attached=attaching.Attached((theirs,)))

    orphan = file_storage().save(f"{user.pk}/orphan", io.BytesIO(b"no row names it"))

    with django_capture_on_commit_callbacks(execute=True):
        call_command("cleanup_files", stdout=io.StringIO())
    assert set(bucket()) == {recent.key, in_conversation.key, theirs.key, orphan}
    assert services.delete_orphaned_bytes(now=timezone.now() + timedelta(days=2)) == 1
    assert set(bucket()) == {recent.key, in_conversation.key, theirs.key}

    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/chat/sessions/{session.pk}").status_code == 200
    assert bucket() == {recent.key: b"just uploaded", theirs.key: b"theirs"}
    assert set(StoredFile.objects.values_list("key", flat=True)) == {recent.key, theirs.key}


@pytest.mark.django_db
def test_the_zip_export_copies_the_users_files_from_the_bucket(client, user, other_user, bucket):
    mine = samples.stored(user, b"kept in the bucket", "mine.txt")
    samples.stored(other_user, b"theirs", "theirs.txt")
    client.force_login(user)

    archive = zipfile.ZipFile(io.BytesIO(content_of(client.get("/settings/export/?format=zip"))))

    assert archive.namelist() == ["export.json", f"files/{mine.pk}-mine.txt"]
    assert archive.read(f"files/{mine.pk}-mine.txt") == b"kept in the bucket"
