"""Export one conversation, pin and archive it, rate replies: the owner's only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import ChatSession
from sharing.models import MessageFeedback
from tests.factories import MessageFactory, UserFactory, conversation

pytestmark = pytest.mark.django_db


def test_markdown_export_has_a_heading_per_turn_and_no_hidden_text(api, user, bystanders):
    user.email = "owner@example.com"
    user.save()
    session = conversation(user, turns=0, title="Code talk")
    MessageFactory(session=session, role="user", content="Show code")
    MessageFactory(session=session, role="assistant", content="```py\nx = 1\n```")
    MessageFactory(session=session, role="user", content="HIDDEN words", hidden=True)
    conversation(user, turns=1, title="Other").messages.update(content="OTHER TEXT")

    response = api.get(f"/api/chat/sessions/{session.pk}/export?format=md")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response.content.decode() == (
        f"# Code talk\n\n*{session.created_at:%Y-%m-%d %H:%M} UTC*\n\n"
        "## You\n\nShow code\n\n"
        "## Assistant\n\n```py\nx = 1\n```\n\n"
        "## You\n\n*This message was removed by a moderator.*\n"
    )


def test_json_export_lists_every_message_without_hidden_text(api, user):
    session = conversation(user, turns=1, title="J")
    hidden = MessageFactory(session=session, role="user", content="HIDDEN words", hidden=True)

    body = api.get(f"/api/chat/sessions/{session.pk}/export?format=json").json()

    assert body["sessionId"] == str(session.pk) and body["title"] == "J"
    assert [m["content"] for m in body["messages"]] == ["question 0", "answer 0", ""]
    assert body["messages"][2] == {
        **body["messages"][2],
        "messageId": str(hidden.pk),
        "hidden": True,
    }
    assert "HIDDEN" not in str(body) and "email" not in str(body)


def test_export_of_another_users_conversation_is_404_and_bad_format_400(api, other_api, user):
    session = conversation(user, turns=1)
    assert other_api.get(f"/api/chat/sessions/{session.pk}/export").status_code == 404
    response = api.get(f"/api/chat/sessions/{session.pk}/export?format=pdf")
    assert response.status_code == 400 and response.json()["field"] == "format"


def test_archived_leave_the_list_stay_searchable_and_can_be_restored(api, user):
    kept = conversation(user, turns=1, title="Kept")
    old = conversation(user, turns=1, title="Old holiday")
    before = ChatSession.objects.get(pk=old.pk).updated_at

    archived = api.put(f"/api/chat/sessions/{old.pk}/archive")

    assert archived.status_code == 200 and archived.json()["archived"] is True
    assert ChatSession.objects.get(pk=old.pk).updated_at == before
    listed = [s["sessionId"] for s in api.get("/api/chat/sessions").json()]
    assert listed == [str(kept.pk)]
    found = [s["sessionId"] for s in api.get("/api/chat/sessions?q=holiday").json()]
    assert found == [str(old.pk)]
    restored = api.delete(f"/api/chat/sessions/{old.pk}/archive")
    assert restored.json()["archived"] is False
    assert len(api.get("/api/chat/sessions").json()) == 2


def test_pin_and_unpin(api, user):
    session = conversation(user, turns=1)
    assert api.put(f"/api/chat/sessions/{session.pk}/pin").json()["pinned"] is True
    assert ChatSession.objects.get(pk=session.pk).pinned
    assert api.delete(f"/api/chat/sessions/{session.pk}/pin").json()["pinned"] is False


def test_organizing_another_users_conversation_is_404(api, other_api, user):
    session = conversation(user, turns=1)
    for path in ("pin", "archive"):
        assert other_api.put(f"/api/chat/sessions/{session.pk}/{path}").status_code == 404
    assert not ChatSession.objects.filter(pinned=True).exists()
    assert not ChatSession.objects.filter(archived=True).exists()


def test_rating_a_reply_again_replaces_it_and_delete_removes_it(api, user):
    reply = conversation(user, turns=1).messages.get(role="assistant")
    url = f"/api/chat/messages/{reply.pk}/feedback"

    first = api.put(url, {"rating": "down", "comment": "wrong"}, content_type="application/json")
    second = api.put(url, {"rating": "up"}, content_type="application/json")

    assert first.json() == {"rating": "down", "comment": "wrong"}
    assert second.status_code == 200 and second.json() == {"rating": "up", "comment": ""}
    assert MessageFeedback.objects.get().rating == "up"
    assert api.delete(url).json() == {"success": True}
    assert not MessageFeedback.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rating": "meh"}, "rating"),
        ({}, "rating"),
        ({"rating": "up", "comment": 5}, "comment"),
        ({"rating": "up", "comment": "x" * 2001}, "comment"),
        ({"rating": "up", "comment": "bell \x07"}, "comment"),
    ],
)
def test_bad_feedback_is_400_naming_the_field(api, user, body, field):
    reply = conversation(user, turns=1).messages.get(role="assistant")
    url = f"/api/chat/messages/{reply.pk}/feedback"

    response = api.put(url, body, content_type="application/json")

    assert response.status_code == 400 and response.json()["field"] == field
    assert not MessageFeedback.objects.exists()


def test_feedback_on_a_user_message_is_400_and_on_anothers_reply_404(api, other_api, user):
    session = conversation(user, turns=1)
    question = session.messages.get(role="user")
    reply = session.messages.get(role="assistant")
    rating = {"rating": "up"}

    on_question = api.put(
        f"/api/chat/messages/{question.pk}/feedback", rating, content_type="application/json"
    )
    on_other = other_api.put(
        f"/api/chat/messages/{reply.pk}/feedback", rating, content_type="application/json"
    )

    assert on_question.status_code == 400
    assert (
        on_other.status_code == 404
        and other_api.delete(f"/api/chat/messages/{reply.pk}/feedback").status_code == 404
    )
    assert not MessageFeedback.objects.exists()


def test_moderators_list_feedback_in_admin(api, user, client):
    reply = conversation(user, turns=1).messages.get(role="assistant")
    api.put(
        f"/api/chat/messages/{reply.pk}/feedback",
        {"rating": "down", "comment": "made up a fact"},
        content_type="application/json",
    )
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.get("/admin/sharing/messagefeedback/?rating__exact=down")

    html = response.content.decode()
    assert response.status_code == 200 and "made up a fact" in html
    assert f"/admin/conversations/message/{reply.pk}/change/" in html


def test_moderators_filter_feedback_by_model_and_date_and_reach_the_conversation(
    user, client, django_assert_max_num_queries
):
    old = conversation(user, turns=1, title="Old one")
    new = conversation(user, turns=1, title="New one")
    old_reply = old.messages.get(role="assistant")
    new_reply = new.messages.get(role="assistant")
    old_reply.model, new_reply.model = "model-a", "model-b"
    old_reply.save(update_fields=["model"])
    new_reply.save(update_fields=["model"])
    long_ago = timezone.now() - timedelta(days=40)
    MessageFeedback.objects.create(
        user=user, message=old_reply, rating="up", comment="OLD NOTE", updated_at=long_ago
    )
    MessageFeedback.objects.create(user=user, message=new_reply, rating="up", comment="NEW NOTE")
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    by_model = client.get("/admin/sharing/messagefeedback/?message__model=model-a")
    this_week = client.get(
        "/admin/sharing/messagefeedback/",
        {"updated_at__gte": (timezone.now() - timedelta(days=7)).isoformat()},
    )

    assert "OLD NOTE" in by_model.content.decode()
    assert "NEW NOTE" not in by_model.content.decode()
    html = this_week.content.decode()
    assert "NEW NOTE" in html and "OLD NOTE" not in html
    assert f"/admin/conversations/chatsession/{new.pk}/change/" in html
    # The list reads each row's reply and conversation with the page, not one by one.
    with django_assert_max_num_queries(12):
        assert client.get("/admin/sharing/messagefeedback/").status_code == 200
