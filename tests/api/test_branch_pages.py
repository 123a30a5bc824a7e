"""Issue 14: the pages of a deep current branch, read by depth through jump pointers, hold
exactly that branch, oldest first, whatever the page size and position."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations import selectors, services
from conversations.models import ChatSession, Message
from tests.api.conftest import bearer_client
from tests.factories import ChatSessionFactory, UserFactory, conversation

pytestmark = pytest.mark.django_db

DEPTH = 300  # the current leaf's


def deep_tree(user, label: str) -> ChatSession:
    """A main line of ``DEPTH`` + 1 messages with a side branch of 3 beside every 25th one,
    stored at once in creation order; the end of the main line is current."""
    session = ChatSessionFactory(user=user)
    rows: list[Message] = []

    def add(parent: Message | None, content: str) -> Message:
        rows.append(
            Message(
                session=session,
                parent=parent,
                sequence=len(rows) + 1,
                role="user" if len(rows) % 2 == 0 else "assistant",
                content=content,
            )
        )
        return rows[-1]

    main = [add(None, f"{label} 0")]
    for depth in range(1, DEPTH + 1):
        main.append(add(main[-1], f"{label} {depth}"))
        if depth % 25 == 0:
            side = main[-2]
            for n in range(3):
                side = add(side, f"{label} side {depth}.{n}")
    services.store_as_tree(session=session, messages=rows, current=main[-1])
    return ChatSession.objects.get(pk=session.pk)


@pytest.fixture
def deep(user):
    """The user's deep conversation beside another of theirs and a second user's, both
    deep and branched too."""
    deep_tree(user, "mine too")
    deep_tree(UserFactory(), "theirs")
    return deep_tree(user, "main")


def next_path(response) -> str | None:
    link = response.headers.get("Link")
    if link is None:
        return None
    url = urlsplit(link.split(";")[0].strip("<>"))
    return f"{url.path}?{url.query}"


def walk(api, path: str) -> list[list[dict]]:
    pages = []
    while path is not None:
        response = api.get(path)
        assert response.status_code == 200, response.content
        pages.append(response.json())
        path = next_path(response)
    return pages


@pytest.mark.parametrize("limit", [1, 7, 50, 200])
def test_pages_of_a_deep_branch_hold_exactly_the_branch_oldest_first(api, deep, limit):
    pages = walk(api, f"/api/chat/sessions/{deep.pk}/messages?limit={limit}")

    seen = [m["content"] for page in pages for m in page]
    assert seen == [f"main {depth}" for depth in range(DEPTH + 1)]
    assert [len(page) for page in pages[:-1]] == [limit] * (len(pages) - 1)
    assert 1 <= len(pages[-1]) <= limit
    # The same messages the whole-branch read gives, with their ids.
    branch = [str(m.pk) for m in selectors.branch_messages(deep)]
    assert [m["messageId"] for page in pages for m in page] == branch


def test_default_page_is_fifty_and_links_keep_the_query(api, deep):
    first = api.get(f"/api/chat/sessions/{deep.pk}/messages")
    assert [m["content"] for m in first.json()] == [f"main {d}" for d in range(50)]
    second = api.get(next_path(first))
    assert [m["content"] for m in second.json()] == [f"main {d}" for d in range(50, 100)]

    limited = api.get(f"/api/chat/sessions/{deep.pk}/messages?limit=120")
    query = parse_qs(urlsplit(next_path(limited)).query)
    assert query["limit"] == ["120"] and len(query["cursor"]) == 1


def test_a_branch_of_exactly_a_page_has_no_next_link(api, user):
    session = conversation(user, turns=2)  # four messages

    response = api.get(f"/api/chat/sessions/{session.pk}/messages?limit=4")

    assert len(response.json()) == 4 and "Link" not in response.headers
    more = api.get(f"/api/chat/sessions/{session.pk}/messages?limit=3")
    assert len(more.json()) == 3 and "Link" in more.headers
    assert [m["content"] for m in api.get(next_path(more)).json()] == ["answer 1"]


def test_a_switched_branch_is_paged_from_its_own_messages(api, deep):
    side_leaf = Message.objects.get(session=deep, content="main side 150.2")
    services.switch_branch(user=deep.user, session_id=deep.pk, message_id=side_leaf.pk)

    pages = walk(api, f"/api/chat/sessions/{deep.pk}/messages?limit=40")

    assert [m["content"] for page in pages for m in page] == [
        *[f"main {d}" for d in range(150)],
        *[f"main side 150.{n}" for n in range(3)],
    ]


def test_hidden_messages_keep_their_place_blanked(api, deep):
    Message.objects.filter(session=deep, content__in=["main 3", "main 299"]).update(hidden=True)

    pages = walk(api, f"/api/chat/sessions/{deep.pk}/messages?limit=100")

    messages = [m for page in pages for m in page]
    assert len(messages) == DEPTH + 1
    assert messages[3]["content"] != "main 3" and messages[299]["content"] != "main 299"
    assert messages[4]["content"] == "main 4"


def test_another_users_deep_branch_is_404_and_never_leaks(deep, other_user):
    stranger = bearer_client(other_user)
    first = bearer_client(deep.user).get(f"/api/chat/sessions/{deep.pk}/messages?limit=5")

    assert stranger.get(f"/api/chat/sessions/{deep.pk}/messages").status_code == 404
    assert stranger.get(next_path(first)).status_code == 404


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "cD0z",  # the ?all=true pages' kind of cursor
        signing.dumps(3, salt="conversations.api.sessions-cursor"),
        signing.dumps("three", salt="conversations.api.branch-cursor"),
    ],
    # Signed values hold a timestamp: named by kind, so a test's id is the same every run
    # (mutmut finds its tests again by id).
    ids=["garbage", "offset-cursor", "sessions-salt", "not-a-depth"],
)
def test_forged_branch_cursor_is_400(api, deep, cursor):
    response = api.get(f"/api/chat/sessions/{deep.pk}/messages", {"cursor": cursor})

    assert response.status_code == 400
    assert response.json()["field"] == "cursor"
    assert response.json()["detail"] == (
        "cursor: This cursor is not valid; start again from the first page."
    )


@pytest.mark.parametrize("limit", ["0", "201", "-1", "ten", "1.5"])
def test_limit_rules_are_unchanged(api, deep, limit):
    response = api.get(f"/api/chat/sessions/{deep.pk}/messages", {"limit": limit})

    assert response.status_code == 400
    assert response.json()["field"] == "limit"


def test_a_cursor_past_the_leaf_gives_an_empty_last_page(api, deep):
    cursor = signing.dumps(DEPTH, salt="conversations.api.branch-cursor")

    response = api.get(f"/api/chat/sessions/{deep.pk}/messages", {"cursor": cursor})

    assert response.status_code == 200 and response.json() == []
    assert "Link" not in response.headers


def test_every_page_costs_the_first_ones_queries(api, deep):
    path = f"/api/chat/sessions/{deep.pk}/messages?limit=20"
    api.get(path)  # the first request's one-off reads are not a page's
    counts = []
    while path is not None:
        with CaptureQueriesContext(connection) as queries:
            response = api.get(path)
        counts.append(len(queries))
        path = next_path(response)

    assert len(counts) == 16 and set(counts) == {counts[0]}


def test_the_page_walk_reaches_the_window_in_few_steps(deep):
    # The recursive walk's rows: the jumps down to the window, then the window itself.
    after, count = 100, 20
    window = selectors._window_of(deep.current_message_id, first=after + 1, last=after + count)
    sql, params = window.sql, window.params
    steps_sql = sql.replace(
        "SELECT node FROM walk WHERE depth BETWEEN %s AND %s", "SELECT COUNT(*) FROM walk"
    )
    with connection.cursor() as cursor:
        cursor.execute(steps_sql, params[:-2])
        (steps,) = cursor.fetchone()

    assert steps <= count + 30  # a parent walk from depth 300 would be 200 rows
