"""Share links: a snapshot without hidden text or the owner's identity, revoked at once."""

from __future__ import annotations

import pytest
from django.test import Client

from conversations import moderation
from conversations.models import ChatSession, Message
from sharing.models import SharedConversation
from tests.factories import MessageFactory, UserFactory, conversation

pytestmark = pytest.mark.django_db


def shared_conversation(user):
    session = conversation(user, turns=1, title="Trip plans", model="gpt-test")
    MessageFactory(session=session, role="user", content="SECRET hidden words", hidden=True)
    MessageFactory(session=session, role="assistant", content="**bold** ![x](http://evil/i.png)")
    return session


def test_share_snapshots_visible_messages_and_page_shows_no_owner(api, user, bystanders):
    user.email = "owner@example.com"
    user.save()
    session = shared_conversation(user)
    other = conversation(user, turns=1, title="Other chat")
    other.messages.update(content="OTHER CONVERSATION TEXT")

    response = api.post(f"/api/chat/sessions/{session.pk}/share")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"shareId", "url", "createdAt", "updatedAt"}
    assert len(body["shareId"]) >= 32  # token_urlsafe(24): 192 random bits
    assert body["url"] == f"http://testserver/s/{body['shareId']}"
    page = Client().get(f"/s/{body['shareId']}")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Trip plans" in html and "gpt-test" in html
    assert "question 0" in html and "answer 0" in html
    assert "<strong>bold</strong>" in html
    assert "<img" not in html
    for absent in ("SECRET", "owner@example.com", user.username, "OTHER CONVERSATION", "bystander"):
        assert absent not in html
    assert '<meta name="robots" content="noindex' in html
    assert page["X-Robots-Tag"] == "noindex, nofollow"
    assert "default-src 'self'" in page["Content-Security-Policy"]
    assert "script-src 'self'" in page["Content-Security-Policy"]


def test_sharing_again_updates_the_same_link(api, user):
    session = shared_conversation(user)
    first = api.post(f"/api/chat/sessions/{session.pk}/share").json()
    MessageFactory(session=session, role="user", content="a later question")

    again = api.post(f"/api/chat/sessions/{session.pk}/share").json()

    assert again["shareId"] == first["shareId"] and again["url"] == first["url"]
    assert "a later question" in Client().get(f"/s/{again['shareId']}").content.decode()
    assert SharedConversation.objects.count() == 1


def test_snapshot_does_not_follow_later_messages(api, user):
    session = shared_conversation(user)
    token = api.post(f"/api/chat/sessions/{session.pk}/share").json()["shareId"]
    MessageFactory(session=session, role="user", content="written after sharing")

    assert "written after sharing" not in Client().get(f"/s/{token}").content.decode()


def test_revoking_answers_404_at_once(api, user):
    session = shared_conversation(user)
    token = api.post(f"/api/chat/sessions/{session.pk}/share").json()["shareId"]

    response = api.delete(f"/api/chat/sessions/{session.pk}/share")

    assert response.status_code == 200 and response.json() == {"success": True}
    assert Client().get(f"/s/{token}").status_code == 404


def test_another_users_session_cannot_be_shared_or_unshared(api, other_api, user):
    session = shared_conversation(user)
    token = api.post(f"/api/chat/sessions/{session.pk}/share").json()["shareId"]

    for response in (
        other_api.post(f"/api/chat/sessions/{session.pk}/share"),
        other_api.delete(f"/api/chat/sessions/{session.pk}/share"),
        api.post("/api/chat/sessions/not-a-uuid/share"),
    ):
        assert response.status_code == 404
        assert response.json()["detail"] == "Conversation not found."
    assert Client().get(f"/s/{token}").status_code == 200


def test_unknown_token_is_404_and_share_needs_credentials(user):
    session = shared_conversation(user)
    assert Client().get("/s/not-a-token").status_code == 404
    assert Client().post(f"/api/chat/sessions/{session.pk}/share").status_code == 401


def test_hiding_a_message_removes_it_from_snapshots(api, user):
    session = shared_conversation(user)
    answer = session.messages.get(content="answer 0")
    token = api.post(f"/api/chat/sessions/{session.pk}/share").json()["shareId"]
    moderator = UserFactory(is_staff=True, is_superuser=True)

    moderation.hide_messages(moderator=moderator, messages=Message.objects.filter(pk=answer.pk))

    html = Client().get(f"/s/{token}").content.decode()
    assert "answer 0" not in html and "question 0" in html


def test_continue_copies_the_snapshot_into_the_viewers_own_conversation(api, user, other_user):
    session = shared_conversation(user)
    token = api.post(f"/api/chat/sessions/{session.pk}/share").json()["shareId"]
    viewer = Client(enforce_csrf_checks=True)
    viewer.force_login(other_user)
    page = viewer.get(f"/s/{token}")
    assert "Continue this conversation" in page.content.decode()

    refused = viewer.post(f"/s/{token}/continue")
    response = viewer.post(
        f"/s/{token}/continue", {"csrfmiddlewaretoken": page.context["csrf_token"]}
    )

    assert refused.status_code == 403
    copy = ChatSession.objects.get(user=other_user)
    assert response.status_code == 302 and response["Location"] == f"/c/{copy.pk}/"
    assert copy.title == "Trip plans"
    assert list(copy.messages.order_by("sequence").values_list("role", "content")) == [
        ("user", "question 0"),
        ("assistant", "answer 0"),
        ("assistant", "**bold** ![x](http://evil/i.png)"),
    ]
    assert ChatSession.objects.filter(user=user).count() == 1


def test_continue_needs_a_signed_in_viewer(api, user):
    session = shared_conversation(user)
    token = api.post(f"/api/chat/sessions/{session.pk}/share").json()["shareId"]

    response = Client().post(f"/s/{token}/continue")

    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert ChatSession.objects.count() == 1


def test_moderator_sees_and_revokes_share_links_in_admin(api, user):
    session = shared_conversation(user)
    token = api.post(f"/api/chat/sessions/{session.pk}/share").json()["shareId"]
    share = SharedConversation.objects.get()
    admin = Client()
    admin.force_login(UserFactory(is_staff=True, is_superuser=True))

    listing = admin.get("/admin/sharing/sharedconversation/")
    revoked = admin.post(f"/admin/sharing/sharedconversation/{share.pk}/delete/", {"post": "yes"})

    assert listing.status_code == 200 and "Trip plans" in listing.content.decode()
    assert revoked.status_code == 302
    assert Client().get(f"/s/{token}").status_code == 404
