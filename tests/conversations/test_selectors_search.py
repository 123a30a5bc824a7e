"""The conversation list and its search, read straight from the selectors: archived ones
listed on their own and found by a search of the others, the text around the first visible
match (its ellipses exactly at the edges of the window), and each reply's owner rating, with
a second user's conversation present that must never appear."""

from __future__ import annotations

import pytest

from conversations import selectors
from conversations.models import ChatSession
from sharing.models import MessageFeedback
from tests.factories import MessageFactory, UserFactory, conversation

pytestmark = pytest.mark.django_db

# As selectors.EXCERPT_CONTEXT_CHARS states it: the characters kept on each side of a match.
SIDE = 60
ELLIPSIS = "\u2026"


@pytest.fixture(autouse=True)
def _bystanders(bystanders):
    """A second user's conversation, its text holding ``bystanders.words``."""
    return bystanders


def text(length: int, start: int = 0) -> str:
    """``length`` characters, each position's character different from its neighbours', so
    that a window shifted by one is a different string."""
    return "".join("abcdefghijklmnopqrstuvwxyz0123456789"[(start + i) % 36] for i in range(length))


@pytest.fixture
def shelf(user):
    """The user's conversations: two listed, two archived; one of each matches "needle" in a
    message, one of each in its title."""
    listed_text = conversation(user, turns=0, title="Plain")
    MessageFactory(session=listed_text, content="a NEEDLE in a message")
    listed_title = conversation(user, turns=0, title="Needle in the title")
    archived_text = conversation(user, turns=0, title="Old", archived=True)
    MessageFactory(session=archived_text, content="an old needle")
    archived_title = conversation(user, turns=0, title="old needle title", archived=True)
    return listed_text, listed_title, archived_text, archived_title


def found(user, **kwargs) -> set[ChatSession]:
    return set(selectors.sessions_for_user(user, **kwargs))


def test_archived_conversations_are_listed_apart_and_found_by_any_search(user, shelf, bystanders):
    listed_text, listed_title, archived_text, archived_title = shelf

    assert found(user) == {listed_text, listed_title}
    assert found(user, archived=True) == {archived_text, archived_title}
    # A search of the listed ones finds archived ones too; of the archived, only those.
    assert found(user, query="needle") == set(shelf)
    assert found(user, query="needle", archived=True) == {archived_text, archived_title}
    assert found(user, query="old", archived=False) == {archived_text, archived_title}
    assert found(user, query="in the title") == {listed_title}
    assert found(user, query="in a message") == {listed_text}
    assert found(user, query="in a message", archived=True) == set()
    assert found(user, query="  ", archived=True) == {archived_text, archived_title}
    # The other user's words are found only in their own list.
    for word in bystanders.words:
        assert found(user, query=word) == set()
        assert found(bystanders.user, query=word) == {bystanders.session}
    assert found(bystanders.user, query="needle") == set()


def test_a_search_matches_neither_hidden_text_nor_a_title_by_its_messages(user, bystanders):
    hidden = conversation(user, turns=0, title="First")
    MessageFactory(session=hidden, content="secret needle", hidden=True)
    shown = conversation(user, turns=0, title="Second")
    MessageFactory(session=shown, content="secret needle", hidden=False)

    assert found(user, query="secret") == {shown}
    assert found(bystanders.user, query="hidden holiday") == set()


def excerpt(session: ChatSession, query: str) -> str | None:
    annotated = selectors.with_search_excerpt(
        ChatSession.objects.filter(pk=session.pk), query=query
    )
    return annotated.get().search_excerpt


@pytest.mark.parametrize(
    ("before", "after", "expected_start", "expected_end"),
    [
        (0, 0, "", ""),
        (10, 10, "", ""),
        (SIDE, SIDE, "", ""),  # exactly the window: no ellipsis
        (SIDE + 1, SIDE, ELLIPSIS, ""),
        (SIDE, SIDE + 1, "", ELLIPSIS),
        (SIDE + 1, SIDE + 1, ELLIPSIS, ELLIPSIS),
        (SIDE + 25, SIDE + 40, ELLIPSIS, ELLIPSIS),
    ],
)
def test_an_excerpt_keeps_sixty_characters_each_side_and_marks_the_cuts(
    user, before, after, expected_start, expected_end
):
    session = conversation(user, turns=0)
    head, tail = text(before), text(after, start=7)
    MessageFactory(session=session, content=f"{head}NeEdLe{tail}")

    kept = f"{head[len(head) - SIDE :] if before > SIDE else head}NeEdLe{tail[:SIDE]}"
    assert excerpt(session, " needle ") == f"{expected_start}{kept}{expected_end}"


def test_the_excerpt_is_of_the_first_visible_match_of_its_own_conversation(user, bystanders):
    session = conversation(user, turns=0, title="needle title")
    MessageFactory(session=session, content="no match here")
    MessageFactory(session=session, content="hidden needle", hidden=True)
    MessageFactory(session=session, content="first shown needle")
    MessageFactory(session=session, content="second shown needle")
    other = conversation(user, turns=0)
    MessageFactory(session=other, content="the other needle")
    titled_only = conversation(user, turns=0, title="needle only in the title")
    MessageFactory(session=titled_only, content="nothing")

    listed = selectors.with_search_excerpt(
        selectors.sessions_for_user(user, query="needle"), query="needle"
    )

    assert {s.pk: s.search_excerpt for s in listed} == {
        session.pk: "first shown needle",
        other.pk: "the other needle",
        titled_only.pk: None,
    }
    assert excerpt(bystanders.session, "hidden holiday") is None
    assert excerpt(bystanders.session, "holiday") == "bystander question about holiday plans"


def test_each_message_carries_its_owners_rating_and_comment(user):
    session = conversation(user, turns=2)
    up, down = session.messages.filter(role="assistant").order_by("sequence")
    MessageFeedback.objects.create(user=user, message=up, rating="up", comment="")
    MessageFeedback.objects.create(user=user, message=down, rating="down", comment="wrong year")

    messages = selectors.with_sibling_ids(list(session.messages.order_by("sequence")))

    assert [(m.content, m.my_rating, m.my_comment) for m in messages] == [
        ("question 0", None, None),
        ("answer 0", "up", ""),
        ("question 1", None, None),
        ("answer 1", "down", "wrong year"),
    ]
    assert [m.sibling_ids for m in messages] == [[str(m.pk)] for m in messages]


def test_a_reply_rated_by_two_users_is_listed_once_among_its_siblings(user):
    session = conversation(user, turns=1)
    reply = session.messages.get(role="assistant")
    MessageFeedback.objects.create(user=user, message=reply, rating="up")
    MessageFeedback.objects.create(user=UserFactory(), message=reply, rating="down")

    [question, answer] = selectors.with_sibling_ids(list(session.messages.order_by("sequence")))

    assert answer.sibling_ids == [str(reply.pk)]
    assert question.sibling_ids == [str(question.pk)]


def test_siblings_are_listed_in_sequence_order_not_in_the_order_stored(user, bystanders):
    session = conversation(user, turns=0)
    root = MessageFactory(session=session, content="root", make_current=False)
    # Stored newest first: the list must still be oldest (lowest sequence) first.
    late = MessageFactory(session=session, parent=root, sequence=9, make_current=False)
    early = MessageFactory(session=session, parent=root, sequence=4, make_current=False)
    middle = MessageFactory(session=session, parent=root, sequence=6, make_current=False)

    listed = selectors.with_sibling_ids([late, root])

    assert listed[0].sibling_ids == [str(early.pk), str(middle.pk), str(late.pk)]
    assert listed[1].sibling_ids == [str(root.pk)]
