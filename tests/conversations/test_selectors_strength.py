"""Reads of conversation trees and the PostgreSQL budget pre-read, the cases mutation
testing found unchecked: the branch walks against a tree with several branches (and a
second user's conversation present), sibling lists, stale replies at their cutoff, and the
pre-read paging through chunks to the same cut the SQLite read makes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from conversations import selectors
from conversations.context import MESSAGE_OVERHEAD_TOKENS
from conversations.errors import MessageNotFound
from conversations.models import ChatSession, Message
from tests.factories import ChatSessionFactory, MessageFactory, conversation

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _bystanders(bystanders):
    """A second user's conversation (its first message also has no parent) is present."""
    return bystanders


def add(session, parent, content, role="user", **fields) -> Message:
    return MessageFactory(
        session=session, parent=parent, role=role, content=content, make_current=False, **fields
    )


@pytest.fixture
def tree():
    """Messages by sequence (creation order) and parent; the current leaf is "deeper"::

    1 root -> 2 a  -> 3 q -> 5 deep -> 6 deeper
                   -> 4 q2
           -> 7 a2
    8 root2 (an edited first question)
    """
    session = ChatSessionFactory()
    root = add(session, None, "root")
    a = add(session, root, "a", role="assistant")
    q = add(session, a, "q")
    q2 = add(session, a, "q2")
    deep = add(session, q, "deep", role="assistant")
    deeper = add(session, deep, "deeper")
    a2 = add(session, root, "a2", role="assistant")
    root2 = add(session, None, "root2")
    ChatSession.objects.filter(pk=session.pk).update(current_message=deeper)
    session.refresh_from_db()
    return SimpleNamespace(**locals())


def contents(messages) -> list[str]:
    return [m.content for m in messages]


def test_the_current_branch_is_the_path_to_the_current_leaf_oldest_first(tree):
    assert contents(selectors.branch_messages(tree.session)) == ["root", "a", "q", "deep", "deeper"]
    ChatSession.objects.filter(pk=tree.session.pk).update(current_message=tree.a2)
    tree.session.refresh_from_db()
    assert contents(selectors.branch_messages(tree.session)) == ["root", "a2"]
    user = tree.session.user
    assert contents(selectors.messages_for_session(user=user, session_id=tree.session.pk)) == [
        "root",
        "a2",
    ]
    every = selectors.messages_for_session(user=user, session_id=tree.session.pk, every_branch=True)
    assert contents(every) == ["root", "a", "q", "q2", "deep", "deeper", "a2", "root2"]


def test_a_conversation_without_a_current_message_has_an_empty_branch():
    session = ChatSessionFactory()
    add(session, None, "not current")
    assert list(selectors.branch_messages(session)) == []


def test_newest_leaf_follows_the_newest_child_at_each_step(tree):
    # Under "a" the newest child is q2 (a leaf), not q, whose branch goes deeper.
    assert selectors.newest_leaf_under(tree.a) == tree.q2.pk
    # Under root the newest child is a2; under q the only path ends at "deeper".
    assert selectors.newest_leaf_under(tree.root) == tree.a2.pk
    assert selectors.newest_leaf_under(tree.q) == tree.deeper.pk
    assert selectors.newest_leaf_under(tree.deeper) == tree.deeper.pk


def test_sibling_ids_list_each_messages_siblings_oldest_first(tree, bystanders):
    assert selectors.with_sibling_ids([]) == []
    branch = selectors.with_sibling_ids(list(selectors.branch_messages(tree.session)))
    ids = {m.content: m.sibling_ids for m in branch}
    # Roots are siblings of each other, never of another conversation's first message.
    assert ids == {
        "root": [str(tree.root.pk), str(tree.root2.pk)],
        "a": [str(tree.a.pk), str(tree.a2.pk)],
        "q": [str(tree.q.pk), str(tree.q2.pk)],
        "deep": [str(tree.deep.pk)],
        "deeper": [str(tree.deeper.pk)],
    }
    [only_root] = selectors.with_sibling_ids([bystanders.messages[0]])
    assert only_root.sibling_ids == [str(bystanders.messages[0].pk)]
    [alone] = selectors.with_sibling_ids([Message.objects.get(pk=tree.deeper.pk)])
    assert alone.sibling_ids == [str(tree.deeper.pk)]


def test_a_message_is_found_only_in_its_own_conversation(tree, bystanders):
    found = selectors.message_in_session(session=tree.session, message_id=str(tree.q2.pk))
    assert found == tree.q2
    other = conversation(tree.session.user, turns=1)
    for message_id in (other.messages.first().pk, bystanders.hidden.pk, uuid.uuid4(), "x"):
        with pytest.raises(MessageNotFound):
            selectors.message_in_session(session=tree.session, message_id=message_id)


NOW = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)


def test_a_streaming_reply_reads_as_failed_once_quiet_past_the_cutoff(settings, monkeypatch):
    settings.CHATBOT_STREAM_STALE_AFTER = 30
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    assert selectors.stale_cutoff() == NOW - timedelta(seconds=30)

    def status(state, quiet_seconds):
        message = Message(status=state, updated_at=NOW - timedelta(seconds=quiet_seconds))
        return selectors.reported_status(message)

    assert status("streaming", 31) == "failed"
    assert status("streaming", 30) == "streaming"
    assert status("streaming", 29) == "streaming"
    assert status("complete", 3600) == "complete"
    assert status("cancelled", 3600) == "cancelled"


# --- The PostgreSQL pre-read, run directly on any database -------------------------------

PER = 1 + MESSAGE_OVERHEAD_TOKENS  # one token of text plus each message's overhead


@pytest.fixture
def counted(monkeypatch):
    """Six one-token messages at sequences 11..16 (not 1..6, so that a sequence is never
    mistaken for a token count or a position), read back in chunks of three."""
    monkeypatch.setattr(selectors, "CONTEXT_CHUNK", 3)
    session = ChatSessionFactory()
    for sequence in range(11, 17):
        MessageFactory(session=session, content="x", token_count=1, sequence=sequence)
    return Message.objects.filter(session=session)


@pytest.mark.parametrize(
    ("budget", "first_past"),
    [
        (0, 16),
        (PER - 1, 16),
        (PER, 15),  # exactly the newest message fits
        (2 * PER, 14),
        (3 * PER - 1, 14),
        (3 * PER, 13),  # the first chunk fits exactly: the next chunk is read
        (4 * PER, 12),
        (5 * PER, 11),
    ],
)
def test_the_pre_read_returns_the_first_message_past_the_budget(counted, budget, first_past):
    assert selectors._oldest_sequence_within(counted, budget) == first_past


@pytest.mark.parametrize("budget", [6 * PER, 6 * PER + 1, 10**6])
def test_the_pre_read_returns_the_oldest_when_everything_fits(counted, budget):
    assert selectors._oldest_sequence_within(counted, budget) == 11


def test_the_pre_read_pages_past_a_partial_chunk(counted, monkeypatch):
    monkeypatch.setattr(selectors, "CONTEXT_CHUNK", 4)
    assert selectors._oldest_sequence_within(counted, 5 * PER) == 11
    assert selectors._oldest_sequence_within(counted, 4 * PER) == 12


def test_the_pre_read_adds_each_messages_own_tokens(monkeypatch):
    monkeypatch.setattr(selectors, "CONTEXT_CHUNK", 2)
    session = ChatSessionFactory()
    for sequence, tokens in ((1, 50), (2, 7), (3, 20)):
        MessageFactory(session=session, content="x", token_count=tokens, sequence=sequence)
    counts = Message.objects.filter(session=session)
    newest_two = 20 + 7 + 2 * MESSAGE_OVERHEAD_TOKENS
    assert selectors._oldest_sequence_within(counts, newest_two) == 1
    assert selectors._oldest_sequence_within(counts, newest_two - 1) == 2
    assert selectors._oldest_sequence_within(counts, 20 + MESSAGE_OVERHEAD_TOKENS - 1) == 3


def test_the_pre_read_matches_the_sqlite_read(counted):
    """Both ways of stopping at the budget keep the same messages."""
    last = counted.order_by("-sequence").first()
    for budget in range(0, 7 * PER):
        read = list(selectors.context_history(last_id=last.pk, budget=budget))
        oldest = selectors._oldest_sequence_within(counted, budget)
        assert len(read) == 16 - oldest + 1, budget
