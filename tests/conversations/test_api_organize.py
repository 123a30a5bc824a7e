"""Organize and feedback over the session API (issue 19): pinned and archived through PATCH
and in every session payload, pinned first in the list, archived ones apart but searchable,
a search snippet, and each reply's rating in the message payloads. Another user's
conversations are present in every test and must never show or change."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from conversations.models import ChatSession, Message
from sharing.models import MessageFeedback
from tests.api.conftest import bearer_client
from tests.factories import MessageFactory, conversation

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(user) -> Client:
    return bearer_client(user)


def aged(session: ChatSession, minutes: int) -> ChatSession:
    """``session`` last active ``minutes`` ago."""
    ChatSession.objects.filter(pk=session.pk).update(
        updated_at=timezone.now() - timedelta(minutes=minutes)
    )
    return ChatSession.objects.get(pk=session.pk)


def listed(api, url: str = "/api/chat/sessions") -> list[str]:
    response = api.get(url)
    assert response.status_code == 200, response.content
    return [item["sessionId"] for item in response.json()]


def walk(api, url: str) -> list[str]:
    """Every page of a list, following the Link headers."""
    seen = []
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.content
        seen += [item["sessionId"] for item in response.json()]
        header = response.headers.get("Link")
        url = header.split(";", 1)[0].strip("<> ") if header else None
    return seen


@pytest.fixture
def strangers(other_user) -> list[ChatSession]:
    """Another user's conversations: pinned, archived and plain, all mentioning the word
    the tests search for."""
    pinned = conversation(other_user, turns=1, title="stranger needle pinned", pinned=True)
    archived = conversation(other_user, turns=1, title="stranger needle archived", archived=True)
    plain = conversation(other_user, turns=1, title="stranger plain")
    MessageFactory(session=plain, content="a stranger's needle")
    return [pinned, archived, plain]


def test_patch_pins_and_archives_and_session_payloads_carry_both(api, user, strangers):
    session = aged(conversation(user, turns=1), minutes=30)
    other = conversation(user, turns=1)

    pinned = api.patch(
        f"/api/chat/sessions/{session.pk}", {"pinned": True}, content_type="application/json"
    )

    assert pinned.status_code == 200, pinned.content
    assert pinned.json()["pinned"] is True and pinned.json()["archived"] is False
    archived = api.patch(
        f"/api/chat/sessions/{session.pk}",
        {"archived": True, "pinned": False},
        content_type="application/json",
    )
    assert (archived.json()["pinned"], archived.json()["archived"]) == (False, True)
    stored = ChatSession.objects.get(pk=session.pk)
    assert (stored.pinned, stored.archived) == (False, True)
    # Organizing is not activity: the conversation keeps its place by recency.
    assert stored.updated_at == session.updated_at
    detail = api.get(f"/api/chat/sessions/{session.pk}").json()
    assert (detail["pinned"], detail["archived"]) == (False, True)
    assert {"pinned", "archived"} <= set(api.get("/api/chat/sessions").json()[0])
    restored = api.post(
        f"/api/chat/sessions/{session.pk}",
        {"archived": False, "title": "Back"},
        content_type="application/json",
    )
    assert restored.json()["archived"] is False and restored.json()["title"] == "Back"
    assert not ChatSession.objects.get(pk=other.pk).pinned
    assert [(s.pinned, s.archived) for s in strangers] == [
        tuple(ChatSession.objects.values_list("pinned", "archived").get(pk=s.pk)) for s in strangers
    ]


@pytest.mark.parametrize("value", ["true", 1, 0, None, "", [], {"a": True}])
@pytest.mark.parametrize("field", ["pinned", "archived"])
def test_pinned_and_archived_must_be_json_booleans(api, user, field, value):
    session = conversation(user, turns=1)

    response = api.patch(
        f"/api/chat/sessions/{session.pk}", {field: value}, content_type="application/json"
    )

    assert response.status_code == 400
    body = response.json()
    assert body["field"] == field
    assert body["detail"] == f"{field}: Must be true or false."
    stored = ChatSession.objects.get(pk=session.pk)
    assert (stored.pinned, stored.archived) == (False, False)


def test_another_users_session_cannot_be_pinned_or_archived(api, user, other_user, strangers):
    mine = conversation(user, turns=1)
    theirs = strangers[2]
    intruder = bearer_client(other_user)

    for body in ({"pinned": True}, {"archived": True}, {"pinned": True, "title": "Mine now"}):
        response = api.patch(
            f"/api/chat/sessions/{theirs.pk}", body, content_type="application/json"
        )
        assert response.status_code == 404
        assert response.json()["detail"] == "Conversation not found."
    assert (
        intruder.patch(
            f"/api/chat/sessions/{mine.pk}", {"pinned": True}, content_type="application/json"
        ).status_code
        == 404
    )
    stored = ChatSession.objects.get(pk=theirs.pk)
    assert (stored.pinned, stored.archived, stored.title) == (False, False, "stranger plain")
    assert not ChatSession.objects.get(pk=mine.pk).pinned


def test_list_pinned_first_then_by_activity_archived_left_out(api, user, strangers):
    newest = aged(conversation(user, turns=0, title="newest"), minutes=1)
    old_pinned = aged(conversation(user, turns=0, title="old pinned", pinned=True), minutes=50)
    middle = aged(conversation(user, turns=0, title="middle"), minutes=20)
    new_pinned = aged(conversation(user, turns=0, title="new pinned", pinned=True), minutes=10)
    aged(conversation(user, turns=0, title="archived", archived=True), minutes=0)
    expected = [str(s.pk) for s in (new_pinned, old_pinned, newest, middle)]

    assert listed(api) == expected
    # Pages of every size cross from pinned to unpinned without losing or repeating one.
    for limit in (1, 2, 3):
        url = f"/api/chat/sessions?limit={limit}"
        assert walk(api, url) == expected
    first = api.get("/api/chat/sessions?limit=2")
    next_url = first.headers["Link"].split(";", 1)[0].strip("<>")
    assert parse_qs(urlsplit(next_url).query)["limit"] == ["2"]


def test_archived_true_lists_only_the_archived_ones(api, user, strangers):
    conversation(user, turns=0, title="active")
    pinned_archived = aged(
        conversation(user, turns=0, title="pinned archived", pinned=True, archived=True), 30
    )
    archived = aged(conversation(user, turns=0, title="archived", archived=True), 5)

    assert listed(api, "/api/chat/sessions?archived=true") == [
        str(pinned_archived.pk),
        str(archived.pk),
    ]
    assert walk(api, "/api/chat/sessions?archived=true&limit=1") == [
        str(pinned_archived.pk),
        str(archived.pk),
    ]
    assert len(listed(api, "/api/chat/sessions?archived=false")) == 1


@pytest.mark.parametrize("value", ["maybe", "1", "yes", "True", ""])
def test_archived_takes_only_true_or_false(api, user, value):
    response = api.get("/api/chat/sessions", {"archived": value})

    assert response.status_code == 400
    assert response.json()["field"] == "archived"
    assert response.json()["detail"] == "archived: Must be true or false."


@pytest.mark.parametrize("cursor", ["garbage", "WyJ0cnVlIl0", '[true, "2026-01-01T00:00:00", "x"]'])
def test_a_cursor_the_server_did_not_sign_is_400(api, user, cursor):
    conversation(user, turns=0, pinned=True)

    response = api.get("/api/chat/sessions", {"cursor": cursor})

    assert response.status_code == 400 and response.json()["field"] == "cursor"


def test_search_finds_archived_ones_with_an_escaped_marked_snippet(api, user, strangers):
    archived = conversation(user, turns=0, title="Old plans", archived=True)
    before = "<b>bold</b> & " + "x" * 70
    MessageFactory(session=archived, content=before + " the NeedLe is <here> " + "y" * 80)
    titled = aged(conversation(user, turns=1, title="A needle in the title"), minutes=5)
    conversation(user, turns=1, title="Unrelated")

    response = api.get("/api/chat/sessions", {"q": "needle"})

    assert response.status_code == 200
    found = {item["sessionId"]: item for item in response.json()}
    assert set(found) == {str(archived.pk), str(titled.pk)}
    snippet = found[str(archived.pk)]["snippet"]
    # The match marked, the text around it escaped and cut (with ellipses) on both sides.
    assert "<mark>NeedLe</mark> is &lt;here&gt; " in snippet
    assert snippet.startswith("\u2026") and snippet.endswith("\u2026")
    assert "<b>" not in snippet and "<here>" not in snippet
    assert found[str(titled.pk)]["snippet"] == "A <mark>needle</mark> in the title"
    assert found[str(archived.pk)]["archived"] is True
    assert "snippet" not in api.get("/api/chat/sessions").json()[0]
    assert "snippet" not in api.get("/api/chat/sessions", {"q": "  "}).json()[0]
    only_archived = api.get("/api/chat/sessions", {"q": "needle", "archived": "true"}).json()
    assert [item["sessionId"] for item in only_archived] == [str(archived.pk)]


def test_snippet_of_a_short_message_is_the_whole_text_without_ellipses(api, user):
    session = conversation(user, turns=0, title="Title")
    MessageFactory(session=session, content="hidden needle", hidden=True)
    MessageFactory(session=session, content="a needle & a thread")

    (item,) = api.get("/api/chat/sessions", {"q": "NEEDLE"}).json()

    assert item["snippet"] == "a <mark>needle</mark> &amp; a thread"


def test_search_list_costs_the_same_queries_for_few_or_many_matches(
    django_assert_num_queries, user
):
    api = bearer_client(user)
    conversation(user, turns=1, title="needle 0")
    with django_assert_num_queries(2):  # the token with its user, then the page
        assert len(api.get("/api/chat/sessions", {"q": "needle"}).json()) == 1
    for n in range(1, 30):
        session = conversation(user, turns=0, title=f"chat {n}", pinned=n % 3 == 0)
        MessageFactory(session=session, content=f"the needle number {n}")
    with django_assert_num_queries(2):
        assert len(api.get("/api/chat/sessions", {"q": "needle"}).json()) == 30


def rate(reply: Message, rating: str, comment: str = "") -> None:
    MessageFeedback.objects.create(
        user=reply.session.user, message=reply, rating=rating, comment=comment
    )


def test_message_payloads_carry_the_owners_feedback(api, user, bystanders):
    session = conversation(user, turns=2)
    first = session.messages.filter(role="assistant").order_by("sequence").first()
    rate(first, "down", "too long")
    rate(bystanders.messages[1], "up")

    messages = api.get(f"/api/chat/sessions/{session.pk}/messages").json()

    assert [m["feedback"] for m in messages] == [
        None,
        {"rating": "down", "comment": "too long"},
        None,
        None,
    ]
    every = api.get(f"/api/chat/sessions/{session.pk}/messages?all=true").json()
    assert every[1]["feedback"] == {"rating": "down", "comment": "too long"}
    assert api.get(f"/api/chat/sessions/{bystanders.session.pk}/messages").status_code == 404


def test_feedback_put_shows_in_the_payload_and_delete_removes_it(api, user, other_user):
    session = conversation(user, turns=1)
    reply = session.messages.get(role="assistant")
    question = session.messages.get(role="user")
    theirs = conversation(other_user, turns=1).messages.get(role="assistant")
    url = f"/api/chat/messages/{reply.pk}/feedback"

    put = api.put(url, {"rating": "up", "comment": "spot on"}, content_type="application/json")

    assert put.status_code == 200
    assert api.get(f"/api/chat/sessions/{session.pk}/messages").json()[1]["feedback"] == {
        "rating": "up",
        "comment": "spot on",
    }
    assert (
        api.put(
            f"/api/chat/messages/{theirs.pk}/feedback",
            {"rating": "up"},
            content_type="application/json",
        ).status_code
        == 404
    )
    assert api.delete(f"/api/chat/messages/{theirs.pk}/feedback").status_code == 404
    on_question = api.put(
        f"/api/chat/messages/{question.pk}/feedback",
        {"rating": "up"},
        content_type="application/json",
    )
    assert on_question.status_code == 400 and on_question.json()["detail"]
    assert api.delete(url).status_code == 200
    assert api.get(f"/api/chat/sessions/{session.pk}/messages").json()[1]["feedback"] is None
    assert not MessageFeedback.objects.filter(message=theirs).exists()


def test_a_page_of_messages_reads_feedback_without_a_query_per_message(
    django_assert_num_queries, user
):
    small, large = conversation(user, turns=1), conversation(user, turns=20)
    for session in (small, large):
        for reply in session.messages.filter(role="assistant"):
            rate(reply, "up", "good")
    api = bearer_client(user)

    # The token with its user, the session, the page, and the page's siblings.
    with django_assert_num_queries(4):
        small_page = api.get(f"/api/chat/sessions/{small.pk}/messages").json()
    with django_assert_num_queries(4):
        large_page = api.get(f"/api/chat/sessions/{large.pk}/messages").json()

    assert small_page[1]["feedback"] == {"rating": "up", "comment": "good"}
    assert [m["feedback"] is not None for m in large_page] == [False, True] * 20


def test_schema_describes_organize_snippet_and_feedback(api):
    schemas = api.get("/api/schema/", headers={"Accept": "application/json"}).json()
    schemas = schemas["components"]["schemas"]

    update = schemas["SessionUpdateRequest"]["properties"]
    assert update["pinned"]["type"] == update["archived"]["type"] == "boolean"
    assert {"pinned", "archived"} <= set(schemas["Session"]["required"])
    item = schemas["SessionListItem"]
    assert item["properties"]["snippet"]["type"] == "string"
    assert "snippet" not in item["required"]
    message = schemas["Message"]
    assert message["properties"]["feedback"]["nullable"] is True
    assert "feedback" in message["required"]
