"""Issue 14: the messages page of a long, branched conversation costs the queries a short
conversation's page does, and pages through exactly its current branch."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bench.trees import branched_tree
from conversations.models import ChatSession, Message
from tests.factories import ChatSessionFactory, MessageFactory, conversation

pytestmark = pytest.mark.django_db

TOTAL, BRANCHES, SIDE_LENGTH = 1_200, 20, 10
MAIN = TOTAL - BRANCHES * SIDE_LENGTH  # the main line, whose last message is current


def branched(user) -> ChatSession:
    """``TOTAL`` messages stored at once: a main line and side branches beside it, in
    creation order (bench scenario 10's shape, smaller); the end of the main line is
    current."""
    session = ChatSessionFactory(user=user)
    rows: list[Message] = []
    for i, node in enumerate(
        branched_tree(total=TOTAL, branches=BRANCHES, side_length=SIDE_LENGTH)
    ):
        rows.append(
            Message(
                session=session,
                parent=None if node.parent is None else rows[node.parent],
                sequence=i + 1,
                role="user" if node.depth % 2 == 0 else "assistant",
                content=f"m{i}",
            )
        )
    Message.objects.bulk_create(rows, batch_size=500)
    ChatSession.objects.filter(pk=session.pk).update(current_message=rows[MAIN - 1])
    return session


def page_queries(api, session: ChatSession) -> int:
    url = f"/api/chat/sessions/{session.pk}/messages?limit=50"
    api.get(url)  # the first request's one-off reads are not a page's
    with CaptureQueriesContext(connection) as queries:
        assert api.get(url).status_code == 200
    return len(queries)


def next_path(response) -> str | None:
    link = response.headers.get("Link")
    if link is None:
        return None
    url = urlsplit(link.split(";")[0].strip("<>"))
    return f"{url.path}?{url.query}"


def test_a_long_branched_conversations_page_costs_a_short_ones_queries(api, user):
    short = conversation(user, turns=1)
    MessageFactory(session=short, content="third")
    assert short.messages.count() == 3

    assert page_queries(api, branched(user)) == page_queries(
        api, ChatSession.objects.get(pk=short.pk)
    )


def test_the_pages_of_a_long_branched_conversation_walk_its_current_branch(api, user):
    session = branched(user)
    seen, path = [], f"/api/chat/sessions/{session.pk}/messages?limit=200"
    while path is not None:
        response = api.get(path)
        seen += [m["content"] for m in response.json()]
        path = next_path(response)

    # The main line only: no side branch's message, each main-line one once, in order.
    assert seen == [f"m{i}" for i in range(MAIN)]
