"""Files in admin: a message's images as thumbnails served to staff who may see files only
(with nosniff and a sandbox CSP), documents never served, each file linked to its message,
and a message's page listing its files (a hidden one's too: moderators see what was hidden)."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client

from attachments import attaching
from attachments.admin import MessageAttachmentInline
from conversations.models import Message
from tests.attachments.samples import content_of, image_bytes, stored
from tests.factories import UserFactory, conversation

pytestmark = pytest.mark.django_db

moderators_migration = importlib.import_module("conversations.migrations.0003_moderators_group")
files_migration = importlib.import_module("attachments.migrations.0003_moderator_permissions")


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def moderator():
    """Staff in the Moderators group exactly as the migrations make it (a transactional
    test elsewhere may have flushed their rows)."""
    moderators_migration.create_moderators(apps, None)
    files_migration.grant(apps, None)
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=moderators_migration.MODERATORS))
    return user


@pytest.fixture
def attached(user):
    """An image and a document on the user's message."""
    image = stored(user, image_bytes("PNG"), "shot.png")
    document = stored(user, b"Meeting at noon.", "notes.txt")
    message = Message.objects.filter(
        session=conversation(user, turns=1), role=Message.Role.USER
    ).get()
    attaching.attach(message=message, attached=attaching.Attached((image, document)))
    return image, document, message


def image_url(file) -> str:
    return f"/admin/attachments/storedfile/{file.pk}/image/"


def test_staff_who_may_see_files_get_the_image_with_download_headers(moderator, attached):
    image, _document, _message = attached

    response = logged_in(moderator).get(image_url(image))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert content_of(response)[:8] == b"\x89PNG\r\n\x1a\n"


def test_nobody_else_gets_the_image_and_documents_are_never_served(
    client, user, moderator, attached
):
    image, document, _message = attached
    staff_without_permission = UserFactory(is_staff=True)

    owner = logged_in(user).get(image_url(image))
    anonymous = client.get(image_url(image))
    unpermitted = logged_in(staff_without_permission).get(image_url(image))
    as_document = logged_in(moderator).get(image_url(document))

    assert owner.status_code == anonymous.status_code == 302
    assert owner["Location"].startswith("/admin/login/")
    assert unpermitted.status_code == 404
    assert as_document.status_code == 404


def test_attachments_list_shows_thumbnails_and_links_each_message(moderator, attached):
    image, document, message = attached

    page = logged_in(moderator).get("/admin/attachments/messageattachment/").content.decode()

    assert f'<img src="{image_url(image)}" alt="shot.png" height="96"' in page
    assert image_url(document) not in page
    assert f'href="/admin/conversations/message/{message.pk}/change/"' in page
    assert "notes.txt" in page


def test_a_files_page_shows_its_thumbnail_and_the_messages_it_is_on(moderator, attached):
    image, _document, message = attached

    page = logged_in(moderator).get(f"/admin/attachments/storedfile/{image.pk}/change/")

    assert page.status_code == 200
    html = page.content.decode()
    assert f'<img src="{image_url(image)}"' in html
    assert f'href="/admin/conversations/message/{message.pk}/change/"' in html


def test_a_hidden_messages_page_shows_its_files_to_a_moderator(moderator, attached):
    image, document, message = attached
    Message.objects.filter(pk=message.pk).update(hidden=True)
    assert admin.site._registry[Message].inlines == [MessageAttachmentInline]

    page = logged_in(moderator).get(f"/admin/conversations/message/{message.pk}/change/")

    assert page.status_code == 200
    html = page.content.decode()
    assert f'<img src="{image_url(image)}" alt="shot.png" height="96"' in html
    assert f'href="/admin/attachments/storedfile/{document.pk}/change/">notes.txt</a>' in html
