"""Reading and managing conversations: lists as cursor pages, search, detail, rename,
delete, and message history."""

from __future__ import annotations

import base64
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from conversations.models import ChatSession, Message
from tests.api.conftest import bearer_client
from tests.factories import ChatSessionFactory, MessageFactory, UserFactory, conversation

pytestmark = pytest.mark.django_db


def make_sessions(user, count: int) -> list[ChatSession]:
    """``count`` sessions, the first one most recently active."""
    now = timezone.now()
    sessions = [
        ChatSession(user=user, title=f"Chat {n}", updated_at=now - timedelta(minutes=n))
        for n in range(count)
    ]
    return ChatSession.objects.bulk_create(sessions)


def next_link(response) -> str | None:
    header = response.headers.get("Link")
    if not header:
        return None
    url, rel = header.split(";", 1)
    assert rel.strip() == 'rel="next"'
    return url.strip().removeprefix("<").removesuffix(">")


def test_list_is_an_array_newest_first_with_camel_case_fields(api, user):
    older = ChatSessionFactory(user=user, title="Older")
    newer = ChatSessionFactory(user=user, title="Newer")
    ChatSession.objects.filter(pk=older.pk).update(updated_at=timezone.now() - timedelta(hours=1))

    response = api.get("/api/chat/sessions")

    assert response.status_code == 200
    body = response.json()
    assert [item["sessionId"] for item in body] == [str(newer.pk), str(older.pk)]
    assert set(body[0]) == {
        "sessionId",
        "title",
        "currentMessageId",
        "model",
        "instructions",
        "pinned",
        "archived",
        "createdAt",
        "updatedAt",
    }
    assert body[0]["currentMessageId"] is None
    assert body[0]["updatedAt"].endswith("Z")
    assert "Link" not in response.headers


def test_cursor_pages_walk_every_session_once(api, user):
    sessions = make_sessions(user, 7)
    seen, url = [], "/api/chat/sessions?limit=3"
    while url:
        response = api.get(url)
        assert response.status_code == 200
        seen += [item["sessionId"] for item in response.json()]
        url = next_link(response)
        if url:
            assert urlsplit(url).path == "/api/chat/sessions"
            assert parse_qs(urlsplit(url).query)["limit"] == ["3"]
    assert seen == [str(session.pk) for session in sessions]


def test_default_page_is_fifty(api, user):
    make_sessions(user, 51)

    response = api.get("/api/chat/sessions")

    assert len(response.json()) == 50
    assert next_link(response)


@pytest.mark.parametrize("limit", ["0", "201", "-1", "ten", "1.5", ""])
def test_bad_limit_is_400(api, limit):
    response = api.get(f"/api/chat/sessions?limit={limit}")

    assert response.status_code == 400
    assert response.json()["field"] == "limit"


@pytest.mark.parametrize(
    "cursor", ["garbage!", "cD1ub3QtYS1kYXRl", "cD0yMDI0LTAxLTAxJTAw", "bz0tMSZwPXg="]
)
def test_forged_cursor_is_400(api, user, cursor):
    # Base64 of "p=not-a-date", "p=2024-01-01%00" and "o=-1&p=x": shaped like ours.
    make_sessions(user, 2)

    response = api.get(f"/api/chat/sessions?cursor={cursor}")

    assert response.status_code == 400
    assert response.json()["field"] == "cursor"


def test_forged_message_cursor_with_huge_position_is_400(api, user):
    session = conversation(user, turns=1)
    cursor = base64.b64encode(b"p=99999999999999999999999").decode()

    response = api.get(f"/api/chat/sessions/{session.pk}/messages?cursor={cursor}")

    assert response.status_code == 400


def test_a_page_costs_the_same_queries_for_10_or_many_sessions(
    django_assert_num_queries, user, other_user
):
    make_sessions(user, 10)
    make_sessions(other_user, 400)
    few, many = bearer_client(user), bearer_client(other_user)

    # The token with its user, and the page itself.
    with django_assert_num_queries(2):
        assert len(few.get("/api/chat/sessions").json()) == 10
    with django_assert_num_queries(2):
        assert len(many.get("/api/chat/sessions").json()) == 50
    with django_assert_num_queries(2):
        assert len(many.get("/api/chat/sessions?limit=200").json()) == 200


def test_a_message_page_costs_the_same_queries_at_any_length(
    django_assert_num_queries, user, other_user
):
    short = conversation(user, turns=2)
    long = conversation(other_user, turns=120)
    for client, session, expected in (
        (bearer_client(user), short, 4),
        (bearer_client(other_user), long, 50),
    ):
        # The token with its user, session ownership, the page, the page's siblings (one
        # query for every message's siblingIds): a read writes nothing.
        with django_assert_num_queries(4):
            response = client.get(f"/api/chat/sessions/{session.pk}/messages")
        assert len(response.json()) == expected


def test_search_matches_titles_and_message_text(api, user):
    by_title = ChatSessionFactory(user=user, title="Trip to Lisbon")
    by_text = conversation(user, turns=0, title="Untitled")
    MessageFactory(session=by_text, content="What should I pack for lisbon?")
    ChatSessionFactory(user=user, title="Something else")
    ChatSessionFactory(user=UserFactory(), title="Lisbon, but not mine")

    response = api.get("/api/chat/sessions?q=LISBON")

    assert response.status_code == 200
    assert {item["sessionId"] for item in response.json()} == {str(by_title.pk), str(by_text.pk)}


def test_search_with_nul_or_overlong_query_is_400(api):
    assert api.get("/api/chat/sessions?q=a%00b").status_code == 400
    assert api.get("/api/chat/sessions?q=" + "x" * 201).json()["field"] == "q"


def test_get_one_session(api, user):
    session = ChatSessionFactory(user=user, title="Mine")

    response = api.get(f"/api/chat/sessions/{session.pk}")

    assert response.status_code == 200
    assert response.json()["sessionId"] == str(session.pk)
    assert response.json()["title"] == "Mine"


@pytest.mark.parametrize("method", ["post", "patch"])
def test_rename_with_post_or_patch(api, user, method):
    session = ChatSessionFactory(user=user, title="Old")

    response = getattr(api, method)(
        f"/api/chat/sessions/{session.pk}", {"title": "  New name  "}, "application/json"
    )

    assert response.status_code == 200
    assert response.json()["title"] == "New name"
    session.refresh_from_db()
    assert session.title == "New name"


@pytest.mark.parametrize(
    ("body", "detail_part"),
    [
        ({"title": ""}, "cannot be empty"),
        ({"title": "   "}, "cannot be empty"),
        ({"title": "x" * 256}, "at most 255"),
        ({"title": 7}, "Must be a string"),
        ({"title": "bad\x00title"}, "not allowed"),
        ({}, "required"),
    ],
)
def test_bad_title_is_400_naming_the_field(api, user, body, detail_part):
    session = ChatSessionFactory(user=user, title="Kept")

    response = api.post(f"/api/chat/sessions/{session.pk}", body, "application/json")

    assert response.status_code == 400
    assert response.json()["field"] == "title"
    assert detail_part in response.json()["detail"]
    session.refresh_from_db()
    assert session.title == "Kept"


def test_an_update_with_a_stray_field_is_400_naming_it(api, user):
    session = ChatSessionFactory(user=user, title="Kept")

    response = api.patch(
        f"/api/chat/sessions/{session.pk}", {"title": "New", "colour": "red"}, "application/json"
    )

    assert response.status_code == 400
    assert response.json()["field"] == "colour"
    session.refresh_from_db()
    assert session.title == "Kept"


def test_title_of_255_characters_is_accepted(api, user):
    session = ChatSessionFactory(user=user)

    response = api.patch(
        f"/api/chat/sessions/{session.pk}", {"title": "t" * 255}, "application/json"
    )

    assert response.status_code == 200


def test_delete_session_and_its_messages(api, user):
    session = conversation(user, turns=2)

    response = api.delete(f"/api/chat/sessions/{session.pk}")

    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert not ChatSession.objects.filter(pk=session.pk).exists()
    assert not Message.objects.filter(session_id=session.pk).exists()
    assert api.get(f"/api/chat/sessions/{session.pk}").status_code == 404


def test_messages_are_oldest_first_and_paginated(api, user):
    session = conversation(user, turns=3)

    first = api.get(f"/api/chat/sessions/{session.pk}/messages?limit=4")
    second = api.get(next_link(first))

    contents = [m["content"] for m in first.json() + second.json()]
    assert contents == [
        "question 0",
        "answer 0",
        "question 1",
        "answer 1",
        "question 2",
        "answer 2",
    ]
    assert set(first.json()[0]) >= {"messageId", "role", "content", "status", "createdAt"}
    assert next_link(second) is None


def test_hidden_message_has_no_text_and_says_it_was_removed(api, user):
    session = conversation(user, turns=1)
    session.messages.filter(role="user").update(hidden=True)

    history = api.get(f"/api/chat/sessions/{session.pk}/messages").json()

    assert history[0]["content"] == "" and history[0]["hidden"] is True
    assert history[1]["content"] == "answer 0" and history[1]["hidden"] is False


def test_reply_whose_writer_died_reads_as_failed(api, user, settings):
    session = ChatSessionFactory(user=user)
    MessageFactory(session=session, content="hello")
    stale = MessageFactory(
        session=session, role="assistant", status="streaming", content="Half an ans"
    )
    long_ago = timezone.now() - timedelta(seconds=settings.CHATBOT_STREAM_STALE_AFTER + 5)
    Message.objects.filter(pk=stale.pk).update(updated_at=long_ago)

    history = api.get(f"/api/chat/sessions/{session.pk}/messages").json()

    assert history[1]["status"] == "failed" and history[1]["content"] == "Half an ans"
    # Reported, not stored: reads never write (the regenerate or the next sweep stores it).
    stale.refresh_from_db()
    assert stale.status == "streaming"
