"""The helpers of the browser pages at their edges, called as the views call them: a
conversation or a 404 with its sentence (another user's like a missing one); the newest page
of messages at 50 and 51 and before a sequence; each bubble's files; the sidebar's pages
(pinned apart, archived on their own, ties on the update time, the cursor and its refusal,
exact page sizes); search excerpts; model labels with fallbacks. A second user and the
user's other conversations are in the database."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.http import Http404
from django.test import RequestFactory
from django.utils import timezone

from catalogue.entries import ModelEntry
from conversations import services, views
from conversations.models import ChatSession, Message
from core.errors import InvalidInput
from tests.factories import ChatSessionFactory, MessageFactory, conversation
from tests.web.test_pages import _attach

pytestmark = pytest.mark.django_db


def request_of(user):
    request = RequestFactory().get("/")
    request.user = user
    return request


def test_a_conversation_is_the_users_own_or_a_404_saying_so(user, other_user, bystanders):
    mine = conversation(user, turns=1, title="Mine")
    theirs = conversation(other_user, turns=1, title="Theirs")
    assert views._session_or_404(request_of(user), mine.pk) == mine
    assert views._session_or_404(request_of(user), str(mine.pk)).title == "Mine"
    for session_id in (theirs.pk, bystanders.session.pk, uuid.uuid4(), "not-an-id"):
        with pytest.raises(Http404) as missing:
            views._session_or_404(request_of(user), session_id)
        assert str(missing.value) == "Conversation not found."


def stored_line(session: ChatSession, count: int) -> None:
    services.store_as_branch(
        session=session,
        messages=[
            Message(session=session, sequence=n, role="user", content=f"m{n}")
            for n in range(1, count + 1)
        ],
    )


@pytest.mark.parametrize(
    ("count", "before", "first", "last", "more"),
    [
        (50, None, 1, 50, False),
        (51, None, 2, 51, True),
        (51, 51, 1, 50, False),
        (52, 52, 2, 51, True),
        (52, 2, 1, 1, False),
        (3, None, 1, 3, False),
        (3, 4, 1, 3, False),
    ],
)
def test_the_latest_page_is_50_messages_oldest_first_before_a_sequence(
    user, count, before, first, last, more
):
    session = ChatSessionFactory(user=user)
    stored_line(session, count)
    other = ChatSessionFactory(user=user)
    stored_line(other, 60)
    messages, has_more = views._latest_messages(
        Message.objects.filter(session=session), before=before
    )
    assert [m.sequence for m in messages] == list(range(first, last + 1))
    assert has_more is more


def test_the_latest_page_of_nothing_before_the_first_message_is_empty(user):
    session = ChatSessionFactory(user=user)
    stored_line(session, 5)
    assert views._latest_messages(Message.objects.filter(session=session), before=1) == (
        [],
        False,
    )


def test_each_bubble_gets_its_own_files_in_order(user, other_user):
    from attachments.selectors import marking_files

    session = ChatSessionFactory(user=user)
    plain = MessageFactory(session=session, content="no files")
    two = MessageFactory(session=session, content="two files")
    _attach(two, "first.txt", "second.txt")
    theirs = MessageFactory(session=ChatSessionFactory(user=other_user), content="theirs")
    _attach(theirs, "theirs.txt")
    messages = list(marking_files(Message.objects.filter(session=session)).order_by("sequence"))
    returned = views._with_attachments(messages)
    assert returned is messages
    assert [[a["name"] for a in m.attachments] for m in returned] == [
        [],
        ["first.txt", "second.txt"],
    ]
    assert returned[0] == plain


def sidebar(user, **kwargs) -> dict:
    return views._sessions_page(request_of(user), query=kwargs.pop("query", ""), **kwargs)


def titles(sessions) -> list[str]:
    return [session.title for session in sessions]


def dated(user, title: str, minutes: int, **fields) -> ChatSession:
    stamp = timezone.now().replace(microsecond=0) - timedelta(minutes=minutes)
    session = ChatSessionFactory(user=user, title=title, **fields)
    ChatSession.objects.filter(pk=session.pk).update(updated_at=stamp)
    session.updated_at = stamp
    return session


def test_the_sidebar_lists_unpinned_unarchived_newest_first_and_pinned_apart(
    user, other_user, bystanders
):
    dated(user, "old", 30)
    dated(user, "new", 10)
    dated(user, "pinned", 5, pinned=True)
    dated(user, "archived", 1, archived=True)
    dated(user, "archived pinned", 2, archived=True, pinned=True)
    dated(other_user, "theirs", 0)
    page = sidebar(user)
    assert titles(page["sessions"]) == ["new", "old"]
    assert page["next_cursor"] == ""
    assert titles(views._pinned_sessions(request_of(user), query="")) == ["pinned"]
    archived = sidebar(user, archived=True)
    assert titles(archived["sessions"]) == ["archived", "archived pinned"]
    assert archived["next_cursor"] == ""


def test_a_search_finds_every_match_with_its_excerpt_pinned_apart(user, other_user, bystanders):
    plain = dated(user, "Holiday plans", 40)
    by_text = dated(user, "Untitled", 30)
    MessageFactory(session=by_text, content="we talked about the holiday budget")
    archived = dated(user, "Archived", 20, archived=True)
    MessageFactory(session=archived, content="an archived holiday")
    pinned = dated(user, "Pinned", 10, pinned=True)
    MessageFactory(session=pinned, content="a pinned holiday note")
    dated(user, "Nothing to see", 5)
    theirs = dated(other_user, "Their holiday", 0)
    MessageFactory(session=theirs, content="their holiday")

    page = sidebar(user, query="holiday")
    assert titles(page["sessions"]) == ["Archived", "Untitled", "Holiday plans"]
    excerpts = [session.search_excerpt for session in page["sessions"]]
    assert excerpts == ["an archived holiday", "we talked about the holiday budget", None]
    pinned_found = views._pinned_sessions(request_of(user), query="holiday")
    assert titles(pinned_found) == ["Pinned"]
    assert pinned_found[0].search_excerpt == "a pinned holiday note"
    assert plain.pk in {session.pk for session in page["sessions"]}
    # Without a search, no excerpt is read.
    assert not hasattr(sidebar(user)["sessions"][0], "search_excerpt")
    assert not hasattr(views._pinned_sessions(request_of(user), query="")[0], "search_excerpt")
    assert [s.title for s in sidebar(user, query="holiday", archived=True)["sessions"]] == [
        "Archived"
    ]


def many(user, count: int, *, stamp=None, prefix="chat") -> list[ChatSession]:
    """``count`` conversations, all updated at ``stamp`` when given (ties), else a minute
    apart, the first the newest."""
    now = timezone.now().replace(microsecond=0)
    sessions = ChatSession.objects.bulk_create(
        ChatSession(
            user=user,
            title=f"{prefix}-{n:03d}",
            updated_at=stamp or now - timedelta(minutes=n),
        )
        for n in range(count)
    )
    return sessions


def walk(user, **kwargs) -> list[list[str]]:
    """The titles of each page of the sidebar, following the cursors."""
    pages: list[list[str]] = []
    after = ""
    while True:
        page = sidebar(user, after=after, **kwargs)
        pages.append(titles(page["sessions"]))
        after = page["next_cursor"]
        if not after:
            return pages


@pytest.mark.parametrize(("count", "sizes"), [(50, [50]), (51, [50, 1]), (101, [50, 50, 1])])
def test_the_sidebar_pages_by_50_with_a_cursor_of_the_last_one(user, other_user, count, sizes):
    sessions = many(user, count)
    many(other_user, 60, prefix="theirs")
    pages = walk(user)
    assert [len(page) for page in pages] == sizes
    assert [title for page in pages for title in page] == [f"chat-{n:03d}" for n in range(count)]
    first = sidebar(user)
    if count > 50:
        last = next(s for s in sessions if s.title == "chat-049")
        assert first["next_cursor"] == f"{last.updated_at.isoformat()}~{last.pk}"
    else:
        assert first["next_cursor"] == ""


def test_conversations_updated_at_the_same_moment_page_by_id(user):
    stamp = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    sessions = many(user, 75, stamp=stamp)
    newer = many(user, 10, prefix="newer")
    pages = walk(user)
    assert [len(page) for page in pages] == [50, 35]
    by_id = sorted(sessions, key=lambda s: s.pk, reverse=True)
    assert [title for page in pages for title in page] == [s.title for s in [*newer, *by_id]]


def test_archived_conversations_page_on_their_own(user):
    many(user, 55, prefix="archived")
    ChatSession.objects.filter(user=user).update(archived=True)
    many(user, 3)
    assert [len(page) for page in walk(user, archived=True)] == [50, 5]
    assert walk(user) == [["chat-000", "chat-001", "chat-002"]]


@pytest.mark.parametrize(
    "after",
    [
        "yesterday",
        "2026-01-01T00:00:00+00:00",
        "2026-01-01~not-a-uuid",
        "~" + "0" * 32,
        # Split at the first separator: the id is then not one (Python reads the time after
        # any one character, so a split at the last would read a time and an id).
        "2026-01-01~00:00:00~" + "0" * 32,
    ],
)
def test_a_bad_cursor_is_refused_naming_the_field(user, after):
    many(user, 3)
    with pytest.raises(InvalidInput) as refused:
        sidebar(user, after=after)
    assert refused.value.detail == "The list position is not valid."
    assert refused.value.field == "after"


def test_a_search_pages_with_its_cursor_too(user):
    many(user, 52, prefix="trip")
    many(user, 5, prefix="other")
    pages = walk(user, query="trip")
    assert [len(page) for page in pages] == [50, 2]
    assert all(title.startswith("trip-") for title in [title for page in pages for title in page])


def entry(model_id: str, label: str, fallback: ModelEntry | None = None) -> ModelEntry:
    return ModelEntry(
        id=model_id,
        label=label,
        provider=None,
        upstream=model_id,
        context_tokens=8000,
        reply_tokens=1000,
        fallback=fallback,
    )


def test_model_labels_name_each_model_and_its_fallback_once():
    backup = entry("backup", "Backup model")
    small = entry("small", "Small", fallback=backup)
    big = entry("big", "Big", fallback=entry("small", "Small (as a fallback)"))
    assert views._model_labels([]) == {}
    assert views._model_labels([small]) == {"small": "Small", "backup": "Backup model"}
    assert views._model_labels([big, small, backup]) == {
        "big": "Big",
        "small": "Small",
        "backup": "Backup model",
    }
    assert views._model_labels([small, big]) == {
        "small": "Small",
        "backup": "Backup model",
        "big": "Big",
    }


def test_a_second_user_with_the_same_titles_never_shows(user, other_user):
    many(other_user, 5)
    ChatSessionFactory(user=other_user, title="pinned", pinned=True)
    assert sidebar(user) == {"sessions": [], "next_cursor": ""}
    assert views._pinned_sessions(request_of(user), query="") == []
