"""sharing/api.py, admin.py and models.py, the parts mutation testing reaches: the schema's
pieces built when the module is imported (asserted by calling them), the share's URL, the
export's format parameter, the admin's refusals to add or change, and each model's name."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.utils import timezone

from conversations.api.serializers import SessionSerializer
from conversations.api.views import ERRORS, SESSION_ID
from sharing import api, services
from sharing.admin import MessageFeedbackAdmin, SharedConversationAdmin, SharedMessageInline
from sharing.models import (
    ImportedConversation,
    MessageFeedback,
    SharedConversation,
    SharedMessage,
)
from tests.factories import UserFactory, conversation

pytestmark = pytest.mark.django_db


def test_errors_are_the_apis_own_and_415_says_unsupported_media_type():
    assert api.errors(400, 401, 415) == {400: ERRORS[400], 401: ERRORS[401], 415: api.UNSUPPORTED}
    assert api.UNSUPPORTED.description == "Unsupported media type."
    assert api.errors() == {}


@pytest.mark.parametrize(
    ("operation", "summary"),
    [("chat_sessions_pin", "Pin a conversation"), ("chat_sessions_archive", "Archive")],
)
def test_the_organize_operations_schema(operation, summary):
    assert api._organize_schema(operation, summary) == {
        "operation_id": operation,
        "summary": summary,
        "description": "The conversation keeps its place by activity (`updatedAt` unchanged).",
        "parameters": [SESSION_ID],
        "request": None,
        "responses": {200: SessionSerializer, **api.errors(401, 403, 404)},
        "tags": ["sessions"],
    }


def test_a_shares_url_is_its_public_page_on_the_requests_host(user, settings):
    settings.ALLOWED_HOSTS = ["chat.example.org"]
    share = services.share_session(user=user, session_id=conversation(user, turns=1).pk)
    request = RequestFactory().get("/", HTTP_HOST="chat.example.org", secure=True)

    data = api.ShareSerializer(share, context={"request": request}).data

    assert data["url"] == f"https://chat.example.org/s/{share.token}"
    assert data["shareId"] == share.token


def test_format_names_the_export_not_a_renderer(api_client, user):
    session = conversation(user, turns=1, title="Formats")

    markdown = api_client.get(f"/api/chat/sessions/{session.pk}/export?format=md")
    as_json = api_client.get(f"/api/chat/sessions/{session.pk}/export?format=json")
    default = api_client.get(f"/api/chat/sessions/{session.pk}/export")

    assert markdown.status_code == 200 and markdown.content.decode().startswith("# Formats\n")
    assert as_json.status_code == default.status_code == 200
    assert as_json.json()["title"] == default.json()["title"] == "Formats"


@pytest.fixture
def api_client(user):
    from tests.api.conftest import bearer_client

    return bearer_client(user)


@pytest.fixture
def moderator_request():
    request = RequestFactory().get("/admin/")
    request.user = UserFactory(is_staff=True, is_superuser=True)
    return request


def test_share_links_and_feedback_are_read_only_in_the_admin(moderator_request, user):
    share = services.share_session(user=user, session_id=conversation(user, turns=1).pk)
    links = SharedConversationAdmin(SharedConversation, admin.site)
    inline = SharedMessageInline(SharedConversation, admin.site)
    feedback = MessageFeedbackAdmin(MessageFeedback, admin.site)

    assert links.has_add_permission(moderator_request) is False
    assert links.has_change_permission(moderator_request) is False
    assert links.has_change_permission(moderator_request, share) is False
    # Deleting a link is how a moderator revokes it.
    assert links.has_delete_permission(moderator_request, share) is True
    assert inline.has_add_permission(moderator_request) is False
    assert inline.has_add_permission(moderator_request, share) is False
    assert inline.has_change_permission(moderator_request, share) is False
    assert feedback.has_add_permission(moderator_request) is False
    assert feedback.has_change_permission(moderator_request) is False
    assert feedback.has_delete_permission(moderator_request) is False
    assert feedback.has_view_permission(moderator_request) is True


def test_each_model_names_itself(user):
    session = conversation(user, turns=1, title="Named")
    share = services.share_session(user=user, session_id=session.pk)
    assert str(share) == "Named"
    share.title = ""
    assert str(share) == "Shared chat"
    first = SharedMessage.objects.get(share=share, position=2)
    assert str(first) == "assistant #2"
    source = ImportedConversation(user=user, session=session, source="chatgpt", source_id="c-9")
    assert str(source) == "chatgpt:c-9"
    reply = session.messages.get(role="assistant")
    rating = MessageFeedback(
        user=user, message=reply, rating="down", updated_at=timezone.now() - timedelta(days=1)
    )
    assert str(rating) == f"down on {reply.pk}"


def test_the_json_export_is_negotiated_as_any_json_answer(api_client, user):
    session = conversation(user, turns=1, title="Indented")

    response = api_client.get(
        f"/api/chat/sessions/{session.pk}/export", HTTP_ACCEPT="application/json; indent=2"
    )

    assert response.status_code == 200
    assert response.content.decode().startswith('{\n  "sessionId": ')
