"""Reads of conversation trees, the cases mutation testing found unchecked: the branch walks
against a tree with several branches (and a second user's conversation present), sibling
lists, stale replies at their cutoff, and the context's walk up a branch stopping exactly
where the token budget ends."""

from __future__ import annotations

import random
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


# --- The walk up a branch, stopped at the token budget ----------------------------------

PER = 1 + MESSAGE_OVERHEAD_TOKENS  # one token of text plus each message's overhead


@pytest.fixture
def counted():
    """Six one-token messages at sequences 11..16 (not 1..6, so that a sequence is never
    mistaken for a token count or a position), each following the one before."""
    session = ChatSessionFactory()
    for sequence in range(11, 17):
        MessageFactory(session=session, content=f"m{sequence}", token_count=1, sequence=sequence)
    return Message.objects.filter(session=session)


def walked(last_id, budget) -> int:
    """How many messages the walk up from ``last_id`` reads under ``budget`` (counting the
    non-empty ones, as every one here is)."""
    visible = Message.objects.exclude(content="")
    return Message.objects.filter(
        id__in=selectors._path_within(last_id, visible=visible, budget=budget)
    ).count()


@pytest.mark.parametrize(
    ("budget", "first_past"),
    [
        (0, 16),
        (PER - 1, 16),
        (PER, 15),  # exactly the newest message fits
        (2 * PER, 14),
        (3 * PER - 1, 14),
        (3 * PER, 13),
        (4 * PER, 12),
        (5 * PER, 11),
    ],
)
def test_the_walk_stops_at_the_first_message_past_the_budget(counted, budget, first_past):
    last = counted.order_by("-sequence").first()
    read = list(selectors.context_history(last_id=last.pk, budget=budget))
    assert contents(read) == [f"m{n}" for n in range(16, first_past - 1, -1)]
    assert walked(last.pk, budget) == 16 - first_past + 1


@pytest.mark.parametrize("budget", [6 * PER, 6 * PER + 1, 10**6, None])
def test_the_walk_reaches_the_first_message_when_everything_fits(counted, budget):
    last = counted.order_by("-sequence").first()
    read = list(selectors.context_history(last_id=last.pk, budget=budget))
    assert contents(read) == [f"m{n}" for n in range(16, 10, -1)]
    assert walked(last.pk, budget) == 6


def test_the_walk_adds_each_messages_own_tokens():
    session = ChatSessionFactory()
    for tokens in (50, 7, 20):
        MessageFactory(session=session, content=f"t{tokens}", token_count=tokens)
    last = session.messages.order_by("-sequence").first()
    newest_two = 20 + 7 + 2 * MESSAGE_OVERHEAD_TOKENS

    def kept(budget):
        return contents(selectors.context_history(last_id=last.pk, budget=budget))

    assert kept(newest_two) == ["t20", "t7", "t50"]
    assert kept(newest_two - 1) == ["t20", "t7"]
    assert kept(20 + MESSAGE_OVERHEAD_TOKENS - 1) == ["t20"]


def test_messages_the_model_never_sees_cost_nothing_on_the_walk():
    """A hidden, failed, streaming or empty message does not use the budget: the walk goes
    on past it to the visible ones, exactly as far as the budget reaches."""
    session = ChatSessionFactory()
    MessageFactory(session=session, content="oldest", token_count=1)
    MessageFactory(session=session, content="kept", token_count=1)
    for fields in (
        {"hidden": True},
        {"role": "assistant", "status": "failed"},
        {"role": "assistant", "status": "streaming"},
        {"content": ""},
    ):
        MessageFactory(session=session, **{"content": "unseen", "token_count": 100, **fields})
    last = MessageFactory(session=session, content="newest", token_count=1)

    read = selectors.context_history(last_id=last.pk, budget=2 * PER)

    assert contents(read) == ["newest", "kept", "oldest"]


@pytest.mark.parametrize("mode", ["block", "flag"])
def test_the_walk_keeps_todays_context_on_any_tree(settings, mode):
    """On a random tree of every kind of message, each reading of a context (from any
    message, under any budget) is what reading the whole branch and stopping at the first
    message past the budget gives."""
    settings.CHATBOT_MODERATION = mode
    rng = random.Random(14)
    session = ChatSessionFactory()
    messages: list[Message] = []
    for n in range(40):
        parent = rng.choice([None, *messages[-3:]]) if n else None
        role = rng.choice(["user", "assistant", "system"])
        messages.append(
            add(
                session,
                parent,
                rng.choice(["", f"m{n}", f"m{n}", f"m{n}"]),
                role=role,
                token_count=rng.randint(0, 6),
                status=rng.choice(["complete", "cancelled", "failed", "streaming"]),
                hidden=rng.random() < 0.15,
                flagged=rng.random() < 0.15,
                moderation_failed=rng.random() < 0.15,
            )
        )

    def sent(message: Message) -> bool:
        refused = (
            mode == "block"
            and message.role == "user"
            and (message.flagged or message.moderation_failed)
        )
        replied = message.role == "assistant" and message.status in ("complete", "cancelled")
        shown = message.role == "user" or replied
        return shown and not message.hidden and message.content != "" and not refused

    by_id = {m.pk: m for m in messages}
    for last in messages:
        branch, node = [], last
        while node is not None:
            branch.append(node)
            node = by_id.get(node.parent_id)
        for budget in [None, *range(0, 60, 3)]:
            expected, used = [], 0
            for message in filter(sent, branch):
                expected.append((message.role, message.content, message.token_count))
                used += message.token_count + MESSAGE_OVERHEAD_TOKENS
                if budget is not None and used > budget:
                    break
            read = selectors.context_history(last_id=last.pk, budget=budget)
            assert [(m.role, m.content, m.tokens) for m in read] == expected, (last, budget)
