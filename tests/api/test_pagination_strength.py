"""Cursor pages of the API asserted exactly (issue 23), with another user's conversations
in the database that no page may show: the limit's edges and its sentence, the ``Link``
header's exact shape and its absence on a last page of exactly a page, ties in activity
broken by id across pinned and unpinned pages, and every forged cursor a 400 that says so."""

from __future__ import annotations

import base64
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import signing
from django.utils import timezone
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from conversations.api.pagination import (
    FORGED_CURSOR,
    ArrayCursorPagination,
    BranchPagination,
    SessionPagination,
)
from conversations.models import ChatSession, Message
from tests.factories import UserFactory, conversation

pytestmark = pytest.mark.django_db

LIMIT_SENTENCE = "limit: Must be a whole number from 1 to 200."
FORGED = f"cursor: {FORGED_CURSOR}"
LINK = re.compile(r'^<(http://testserver/api/chat/sessions[^>]*)>; rel="next"$')


@pytest.fixture
def strangers(db):
    """Another user's conversations, pinned and not, at the same moments as ours."""
    other = UserFactory()
    return [conversation(other, turns=1, pinned=pinned) for pinned in (True, False)]


def sessions_at(user, specs) -> list[ChatSession]:
    """Conversations with (minutes ago, pinned), all at exact moments."""
    now = timezone.now().replace(microsecond=0)
    made = []
    for minutes, pinned in specs:
        session = conversation(user, turns=0, pinned=pinned)
        ChatSession.objects.filter(pk=session.pk).update(
            updated_at=now - timedelta(minutes=minutes)
        )
        made.append(session)
    return made


def walk(api, url: str) -> tuple[list[str], list[int]]:
    """The ids of every page, and each page's length."""
    ids, sizes = [], []
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.content
        ids += [item["sessionId"] for item in response.json()]
        sizes.append(len(response.json()))
        link = response.headers.get("Link")
        url = LINK.match(link).group(1) if link else None
    return ids, sizes


def expected_order(sessions: list[ChatSession]) -> list[str]:
    rows = ChatSession.objects.filter(pk__in=[s.pk for s in sessions])
    return [
        str(s.pk)
        for s in sorted(rows, key=lambda s: (not s.pinned, -s.updated_at.timestamp(), -s.pk.int))
    ]


def test_pages_cross_ties_and_pinned_without_losing_or_repeating_one(api, user, strangers):
    # Equal moments on both sides of the pinned boundary: ties go by id, newest id first.
    sessions = sessions_at(
        user, [(5, True), (5, True), (9, True), (1, False), (1, False), (1, False), (3, False)]
    )
    expected = expected_order(sessions)

    for limit, sizes in [(1, [1] * 7), (2, [2, 2, 2, 1]), (3, [3, 3, 1]), (7, [7]), (200, [7])]:
        assert walk(api, f"/api/chat/sessions?limit={limit}") == (expected, sizes)


def test_a_last_page_of_exactly_a_page_has_no_link(api, user, strangers):
    sessions_at(user, [(1, False), (2, False), (3, True), (4, True)])

    first = api.get("/api/chat/sessions?limit=2")
    second = api.get(LINK.match(first.headers["Link"]).group(1))

    assert len(second.json()) == 2
    assert "Link" not in second.headers


def test_the_link_keeps_the_query_and_adds_a_signed_cursor(api, user, strangers):
    first_pinned, _, last_unpinned = sessions_at(user, [(1, True), (2, True), (3, False)])

    response = api.get("/api/chat/sessions?limit=1&archived=false")

    link = LINK.match(response.headers["Link"]).group(1)
    query = parse_qs(urlsplit(link).query)
    assert (query["limit"], query["archived"]) == (["1"], ["false"])
    # The header's name as sent, as RFC 8288 spells it.
    assert [name for name, _ in response.items() if name.lower() == "link"] == ["Link"]
    pinned, stamp, last_id = signing.loads(query["cursor"][0], salt=SessionPagination.salt)
    stored = ChatSession.objects.get(pk=first_pinned.pk)
    assert (pinned, stamp, last_id) == (True, stored.updated_at.isoformat(), str(stored.pk))
    assert walk(api, link)[0][-1] == str(last_unpinned.pk)


def test_without_a_limit_a_page_is_fifty(api, user, strangers):
    ChatSession.objects.bulk_create(ChatSession(user=user, title=f"{n}") for n in range(51))
    session = conversation(user, turns=26)

    sessions = api.get("/api/chat/sessions")
    every = api.get(f"/api/chat/sessions/{session.pk}/messages?all=true")
    branch = api.get(f"/api/chat/sessions/{session.pk}/messages")

    for response in (sessions, every, branch):
        assert response.status_code == 200
        assert len(response.json()) == 50
        assert re.match(r'^<[^>]+>; rel="next"$', response.headers["Link"])


@pytest.mark.parametrize(("limit", "count"), [("1", 1), ("200", 3)])
def test_a_limit_from_1_to_200_is_taken(api, user, limit, count):
    sessions_at(user, [(1, False), (2, False), (3, False)])

    response = api.get(f"/api/chat/sessions?limit={limit}")

    assert response.status_code == 200 and len(response.json()) == count


@pytest.mark.parametrize("limit", ["0", "201", "ten", ""])
@pytest.mark.parametrize("path", ["/api/chat/sessions", "messages", "messages?all=true"])
def test_a_limit_outside_1_to_200_is_400_saying_so(api, user, path, limit):
    session = conversation(user, turns=1)
    if path.startswith("messages"):
        path = f"/api/chat/sessions/{session.pk}/{path}"
    glue = "&" if "?" in path else "?"

    response = api.get(f"{path}{glue}limit={limit}")

    assert response.status_code == 400
    assert (response.json()["detail"], response.json()["field"]) == (LIMIT_SENTENCE, "limit")


def session_cursor(*position) -> str:
    return signing.dumps(list(position), salt=SessionPagination.salt)


# Signed cursors hold a timestamp: the cases are named, so that their test ids do not change.
@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        signing.dumps([True, "2026-01-01T00:00:00+00:00", "x"], salt=BranchPagination.salt),
        session_cursor(True, "not a date", "5f0c6e0e-0000-4000-8000-000000000001"),
        session_cursor(True, 12, "5f0c6e0e-0000-4000-8000-000000000001"),
        session_cursor(True, "2026-01-01T00:00:00+00:00", "not-a-uuid"),
        session_cursor(True, "2026-01-01T00:00:00+00:00"),
    ],
    ids=["unsigned", "branch salt", "bad date", "date not text", "bad id", "two parts"],
)
def test_a_session_cursor_the_server_did_not_make_is_400_saying_so(api, user, cursor):
    conversation(user, turns=0)

    response = api.get("/api/chat/sessions", {"cursor": cursor})

    assert response.status_code == 400
    assert (response.json()["detail"], response.json()["field"]) == (FORGED, "cursor")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        base64.b64encode(b"p=not-a-number").decode(),
        base64.b64encode(b"o=-1&p=1").decode(),
    ],
)
def test_a_message_cursor_the_server_did_not_make_is_400_saying_so(api, user, cursor):
    session = conversation(user, turns=2)

    response = api.get(f"/api/chat/sessions/{session.pk}/messages?all=true&cursor={cursor}")

    assert response.status_code == 400
    assert (response.json()["detail"], response.json()["field"]) == (FORGED, "cursor")


def test_every_message_pages_in_creation_order(api, user, strangers):
    session = conversation(user, turns=3)

    first = api.get(f"/api/chat/sessions/{session.pk}/messages?all=true&limit=4")
    link = first.headers["Link"]
    url = re.match(r'^<([^>]+)>; rel="next"$', link).group(1)
    second = api.get(url)

    contents = [m["content"] for m in first.json() + second.json()]
    assert contents == [f"{kind} {n}" for n in range(3) for kind in ("question", "answer")]
    assert "Link" not in second.headers
    assert parse_qs(urlsplit(url).query)["all"] == ["true"]


def branch_link(response) -> str | None:
    link = response.headers.get("Link")
    return re.match(r'^<([^>]+)>; rel="next"$', link).group(1) if link else None


@pytest.mark.parametrize(
    ("turns", "limit", "sizes"), [(3, 2, [2, 2, 2]), (3, 4, [4, 2]), (2, 5, [4])]
)
def test_branch_pages_hold_the_branch_oldest_first_each_cursor_its_last_depth(
    api, user, strangers, turns, limit, sizes
):
    session = conversation(user, turns=turns)
    conversation(user, turns=2)
    url, contents, lengths = f"/api/chat/sessions/{session.pk}/messages?limit={limit}", [], []
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.content
        contents += [m["content"] for m in response.json()]
        lengths.append(len(response.json()))
        url = branch_link(response)
        if url:
            cursor = parse_qs(urlsplit(url).query)["cursor"][0]
            assert signing.loads(cursor, salt=BranchPagination.salt) == len(contents) - 1
            assert parse_qs(urlsplit(url).query)["limit"] == [str(limit)]

    assert contents == [f"{kind} {n}" for n in range(turns) for kind in ("question", "answer")]
    assert lengths == sizes


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        signing.dumps(1, salt=SessionPagination.salt),
        signing.dumps("three", salt=BranchPagination.salt),
        signing.dumps(None, salt=BranchPagination.salt),
    ],
    ids=["unsigned", "session salt", "not a number", "none"],
)
def test_a_branch_cursor_the_server_did_not_make_is_400_saying_so(api, user, cursor):
    session = conversation(user, turns=2)

    response = api.get(f"/api/chat/sessions/{session.pk}/messages", {"cursor": cursor})

    assert response.status_code == 400
    assert (response.json()["detail"], response.json()["field"]) == (FORGED, "cursor")


def test_the_schema_states_the_cursor_and_limit_parameters():
    paginator = ArrayCursorPagination()
    schema = {"type": "array"}

    assert paginator.get_paginated_response_schema(schema) is schema
    assert paginator.get_schema_operation_parameters(view=None) == [
        {
            "name": "cursor",
            "required": False,
            "in": "query",
            "description": "Opaque cursor from the previous page's Link header.",
            "schema": {"type": "string"},
        },
        {
            "name": "limit",
            "required": False,
            "in": "query",
            "description": "Items per page (default 50).",
            "schema": {"type": "integer", "minimum": 1, "maximum": 200},
        },
    ]


class NewestFirst(ArrayCursorPagination):
    """The base class on a descending ordering (MessagePagination's is ascending)."""

    ordering = ("-sequence",)


def test_a_descending_ordering_pages_by_its_field_and_checks_a_cursors_position(user):
    session = conversation(user, turns=2)
    conversation(user, turns=1)
    messages = Message.objects.filter(session=session)
    factory = APIRequestFactory()

    paginator = NewestFirst()
    page = paginator.paginate_queryset(messages, Request(factory.get("/x", {"limit": 3})))
    cursor = parse_qs(urlsplit(paginator.get_next_link()).query)["cursor"][0]
    rest = NewestFirst().paginate_queryset(
        messages, Request(factory.get("/x", {"limit": 3, "cursor": cursor}))
    )
    forged = base64.b64encode(b"p=not-a-number").decode()
    with pytest.raises(ValidationError) as refused:
        NewestFirst().paginate_queryset(messages, Request(factory.get("/x", {"cursor": forged})))

    assert [m.content for m in page] == ["answer 1", "question 1", "answer 0"]
    assert [m.content for m in rest] == ["question 0"]
    assert refused.value.detail == {"cursor": [FORGED_CURSOR]}
