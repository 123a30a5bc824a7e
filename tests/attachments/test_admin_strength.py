"""Files in admin, the code of its own: read-only everywhere (no add, no change, links never
deleted by hand), the thumbnail's exact markup, the staff-only image view's every header
and its 404s, and how a file and a link are named."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group
from django.http import Http404
from django.test import Client, RequestFactory

from attachments import attaching
from attachments.admin import MessageAttachmentInline, thumbnail
from attachments.models import MessageAttachment, StoredFile
from attachments.storage import file_storage
from conversations.models import Message
from tests.attachments.samples import content_of, image_bytes, stored
from tests.factories import UserFactory, conversation

pytestmark = pytest.mark.django_db

moderators_migration = importlib.import_module("conversations.migrations.0003_moderators_group")
files_migration = importlib.import_module("attachments.migrations.0003_moderator_permissions")


@pytest.fixture
def moderator():
    moderators_migration.create_moderators(apps, None)
    files_migration.grant(apps, None)
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=moderators_migration.MODERATORS))
    return user


@pytest.fixture
def superuser():
    return UserFactory(is_staff=True, is_superuser=True)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def attached(user):
    image = stored(user, image_bytes("PNG"), "shot.png")
    document = stored(user, b"Meeting at noon.", "notes.txt")
    message = Message.objects.get(session=conversation(user, turns=1), role=Message.Role.USER)
    attaching.attach(message=message, attached=attaching.Attached((image, document)))
    return image, document, message


def test_the_thumbnail_of_an_image_and_of_a_document(attached):
    image, document, _message = attached
    url = f"/admin/attachments/storedfile/{image.pk}/image/"

    assert thumbnail(image) == (
        f'<a href="{url}"><img src="{url}" alt="shot.png" height="96" loading="lazy"></a>'
    )
    assert thumbnail(document) == "-"


def test_files_and_links_are_read_only_even_for_a_superuser(superuser, attached):
    image, _document, message = attached
    request = RequestFactory().get("/admin/")
    request.user = superuser
    link = MessageAttachment.objects.get(file=image)
    inline = MessageAttachmentInline(Message, admin.site)

    for model, obj in ((StoredFile, image), (MessageAttachment, link)):
        model_admin = admin.site._registry[model]
        assert model_admin.has_add_permission(request) is False
        assert model_admin.has_change_permission(request, obj) is False
        assert model_admin.has_view_permission(request, obj) is True
    assert admin.site._registry[MessageAttachment].has_delete_permission(request, link) is False
    assert inline.has_add_permission(request, message) is False
    assert inline.has_change_permission(request, message) is False

    client = logged_in(superuser)
    assert client.get("/admin/attachments/storedfile/add/").status_code == 403
    page = client.get(f"/admin/attachments/storedfile/{image.pk}/change/").content.decode()
    assert 'name="_save"' not in page


def test_the_image_view_sends_the_image_with_every_header(moderator, attached):
    image, _document, _message = attached

    response = logged_in(moderator).get(f"/admin/attachments/storedfile/{image.pk}/image/")

    body = content_of(response)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Length"] == str(image.size) == str(len(body))
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox; default-src 'none'"
    # Admin adds its own never-cache directives after the view's.
    assert response["Cache-Control"].startswith("private, no-cache,")


def test_the_image_view_is_a_404_for_a_document_a_missing_file_or_staff_without_permission(
    moderator, attached
):
    image, document, _message = attached
    unpermitted = logged_in(UserFactory(is_staff=True))

    for client, file_id in (
        (logged_in(moderator), document.pk),
        (logged_in(moderator), "0e4f1b52-7d43-4a8e-9a57-5d2b4d1c2a10"),
        (unpermitted, image.pk),
    ):
        response = client.get(f"/admin/attachments/storedfile/{file_id}/image/")
        assert response.status_code == 404


def test_a_messages_page_lists_its_files_in_position_order(moderator, attached):
    _image, document, message = attached

    html = logged_in(moderator).get(f"/admin/conversations/message/{message.pk}/change/")
    page = html.content.decode()

    assert page.index("shot.png") < page.index("notes.txt")
    assert f'href="/admin/attachments/storedfile/{document.pk}/change/">notes.txt</a>' in page
    assert "Meeting at noon." not in page


def test_a_file_and_a_link_are_named_for_people(attached):
    image, _document, message = attached
    link = MessageAttachment.objects.get(file=image)

    assert str(image) == "shot.png"
    assert str(link) == f"shot.png on {message.pk}"


def test_the_image_views_404_says_file_not_found(moderator, attached):
    image, document, _message = attached
    view = admin.site._registry[StoredFile].image_view
    allowed = RequestFactory().get("/admin/")
    allowed.user = moderator
    refused = RequestFactory().get("/admin/")
    refused.user = UserFactory(is_staff=True)

    for request, file_id in ((allowed, document.pk), (refused, image.pk)):
        with pytest.raises(Http404) as refusal:
            view(request, file_id)
        assert str(refusal.value) == "File not found."


def test_the_inline_reads_its_links_with_their_files_in_one_query(
    moderator, attached, django_assert_num_queries
):
    image, document, _message = attached
    request = RequestFactory().get("/admin/")
    request.user = moderator
    inline = MessageAttachmentInline(Message, admin.site)

    links = inline.get_queryset(request).order_by("position")  # permissions read here

    with django_assert_num_queries(1):
        names = [link.file.name for link in links]

    assert names == [image.name, document.name]


def test_the_image_view_sets_its_own_headers_without_the_middleware(moderator, attached):
    image, _document, _message = attached
    request = RequestFactory().get("/admin/")
    request.user = moderator

    response = admin.site._registry[StoredFile].image_view(request, image.pk)

    with file_storage().open(image.key, "rb") as handle:
        assert content_of(response) == handle.read()
    assert {name: response[name] for name in response.headers} == {
        "Content-Type": "image/png",
        "Content-Length": str(image.size),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "Cache-Control": "private, no-cache",
    }


def test_the_image_route_is_the_first_and_serves_staff_through_admin(moderator, attached):
    image, _document, _message = attached
    route, *others = admin.site._registry[StoredFile].get_urls()
    request = RequestFactory().get("/admin/")
    request.user = moderator

    response = route.callback(request, file_id=image.pk)

    assert (str(route.pattern), route.name) == (
        "<uuid:file_id>/image/",
        "attachments_storedfile_image",
    )
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert [other.name for other in others][:2] == [
        "attachments_storedfile_changelist",
        "attachments_storedfile_add",
    ]
