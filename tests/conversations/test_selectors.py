"""Reads: scoped to their user and conversation, without hidden text, and only as far back
as the token budget reaches."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from conversations import selectors
from conversations.context import MESSAGE_OVERHEAD_TOKENS, build_context, count_tokens
from conversations.errors import MessageNotFound, SessionNotFound
from conversations.models import ChatSession, Message
from tests.factories import ChatSessionFactory, MessageFactory, UserFactory, conversation


def one_branch(messages: list[Message]) -> list[Message]:
    """``messages`` stored as one branch, each following the one before; the last current."""
    for parent, message in zip([None, *messages], messages, strict=False):
        message.parent = parent
    Message.objects.bulk_create(messages)
    ChatSession.objects.filter(pk=messages[0].session_id).update(current_message=messages[-1])
    return messages


def before(session, sequence: int):
    """The id of the message just before ``sequence``: where a reply there reads back from."""
    return session.messages.filter(sequence=sequence - 1).values_list("pk", flat=True).first()


def long_session(turns: int):
    session = ChatSessionFactory()
    one_branch(
        [
            Message(
                session=session,
                sequence=i + 1,
                role="user" if i % 2 == 0 else "assistant",
                content=f"message {i} " + "filler " * 30,
                token_count=count_tokens(f"message {i} " + "filler " * 30),
            )
            for i in range(turns * 2)
        ]
    )
    return session


@pytest.mark.django_db
@pytest.mark.parametrize("turns", [5, 600])
def test_context_history_costs_the_same_queries_whatever_the_length(
    django_assert_num_queries, turns
):
    session = long_session(turns)
    last_id = before(session, turns * 2 + 1)
    # One query on every database, its walk up the branch stopped at the budget.
    with django_assert_num_queries(1):
        kept = list(selectors.context_history(last_id=last_id, budget=2000))
    newest_first = list(Message.objects.filter(session=session).order_by("-sequence"))
    fitting, used = 0, 0
    for message in newest_first:
        used += message.token_count + MESSAGE_OVERHEAD_TOKENS
        if used > 2000:
            break
        fitting += 1
    # Everything that fits, and at most the one message that does not.
    assert fitting <= len(kept) <= fitting + 1
    assert [m.content for m in kept[:fitting]] == [m.content for m in newest_first[:fitting]]


@pytest.mark.django_db
def test_budgeted_history_equals_what_the_context_keeps():
    session = long_session(100)
    unbounded = build_context(
        system_prompt="S",
        history=selectors.context_history(last_id=before(session, 201)),
        budget=3000,
    )
    budgeted = build_context(
        system_prompt="S",
        history=selectors.context_history(
            last_id=before(session, 201), budget=3000 - count_tokens("S")
        ),
        budget=3000,
    )
    assert budgeted == unbounded


@pytest.mark.django_db
def test_context_leaves_out_hidden_streaming_failed_and_empty_messages():
    session = ChatSessionFactory()
    MessageFactory(session=session, role="user", content="kept question")
    MessageFactory(session=session, role="assistant", content="failed half", status="failed")
    MessageFactory(session=session, role="user", content="hidden one", hidden=True)
    MessageFactory(session=session, role="assistant", content="", status="cancelled")
    MessageFactory(session=session, role="assistant", content="still going", status="streaming")
    MessageFactory(session=session, role="assistant", content="stopped early", status="cancelled")
    MessageFactory(session=session, role="user", content="latest")
    history = selectors.context_history(last_id=before(session, 8), budget=1000)
    assert [m.content for m in history] == ["latest", "stopped early", "kept question"]


# --- Scoping: another conversation, another user, hidden text ------------------------------


@pytest.fixture(autouse=True)
def _bystanders(bystanders):
    """Every read here runs with a second user's conversation in the database."""
    return bystanders


def history_of(session, *, before_sequence: int = 1000, budget: int | None = None):
    return [
        (m.role, m.content)
        for m in selectors.context_history(
            last_id=before(session, min(before_sequence, session.messages.count() + 1)),
            budget=budget,
        )
    ]


@pytest.mark.django_db
def test_context_history_reads_only_its_own_conversation(bystanders):
    session = conversation(bystanders.user, turns=1)
    assert history_of(session) == [("assistant", "answer 0"), ("user", "question 0")]
    assert history_of(bystanders.session) == [
        ("assistant", "bystander answer about holiday plans"),
        ("user", "bystander question about holiday plans"),
    ]


@pytest.mark.django_db
def test_context_history_stops_before_the_message_being_answered():
    session = conversation(turns=2)
    assert history_of(session, before_sequence=3) == [
        ("assistant", "answer 0"),
        ("user", "question 0"),
    ]
    assert history_of(session, before_sequence=1) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (
            "off",
            ["clean", "odd answer", "flagged answer", "unchecked", "flagged question", "first"],
        ),
        (
            "flag",
            ["clean", "odd answer", "flagged answer", "unchecked", "flagged question", "first"],
        ),
        ("block", ["clean", "odd answer", "flagged answer", "first"]),
    ],
)
def test_block_mode_keeps_refused_and_unchecked_questions_out_of_history(settings, mode, expected):
    settings.CHATBOT_MODERATION = mode
    session = ChatSessionFactory()
    MessageFactory(session=session, role="user", content="first")
    MessageFactory(session=session, role="user", content="flagged question", flagged=True)
    MessageFactory(session=session, role="user", content="unchecked", moderation_failed=True)
    MessageFactory(session=session, role="assistant", content="flagged answer", flagged=True)
    # Only questions are refused: a reply marked unchecked still counts as history.
    MessageFactory(session=session, role="assistant", content="odd answer", moderation_failed=True)
    MessageFactory(session=session, role="system", content="stored system text")
    MessageFactory(session=session, role="user", content="clean")
    assert [content for _, content in history_of(session)] == expected


@pytest.mark.django_db
def test_budget_reads_up_to_the_first_message_past_it():
    session = ChatSessionFactory()
    for n in range(6):
        MessageFactory(session=session, role="user", content="word " * 10, token_count=10 + n)
    per_message = [10 + n + MESSAGE_OVERHEAD_TOKENS for n in range(6)]
    newest_two = per_message[5] + per_message[4]
    kept = list(selectors.context_history(last_id=before(session, 7), budget=newest_two))
    # The first message past the budget comes too (the caller sees history was cut, and
    # cuts it in blocks); nothing older is read, on either database.
    assert [m.tokens for m in kept] == [15, 14, 13]
    everything = list(selectors.context_history(last_id=before(session, 7)))
    assert [m.tokens for m in everything] == [15, 14, 13, 12, 11, 10]


@pytest.mark.django_db
def test_search_never_matches_hidden_text_or_other_users(bystanders):
    user = bystanders.user
    visible = conversation(user, turns=0, title="Plain")
    MessageFactory(session=visible, content="Visible Needle here")
    hidden_only = conversation(user, turns=0, title="Other")
    MessageFactory(session=hidden_only, content="hidden needle", hidden=True)
    titled = conversation(user, turns=0, title="NEEDLE in the title")
    assert set(selectors.sessions_for_user(user, query="  needle ")) == {visible, titled}
    assert list(selectors.sessions_for_user(user, query="hidden")) == []
    stranger = UserFactory()
    for word in ("needle", *bystanders.words):
        assert list(selectors.sessions_for_user(stranger, query=word)) == []


@pytest.mark.django_db
def test_sessions_are_newest_first_and_a_blank_query_lists_all(bystanders):
    user = UserFactory()
    now = timezone.now()
    # Ids in the opposite order to activity: ordering by id alone would fail.
    newer = conversation(user, turns=0, id=uuid.UUID(int=1))
    older = conversation(user, turns=0, id=uuid.UUID(int=2))
    ChatSession.objects.filter(pk=older.pk).update(updated_at=now - timedelta(minutes=1))
    ChatSession.objects.filter(pk=newer.pk).update(updated_at=now)
    assert list(selectors.sessions_for_user(user)) == [newer, older]
    assert list(selectors.sessions_for_user(user, query="   ")) == [newer, older]
    tied = [older, newer]
    ChatSession.objects.filter(user=user).update(updated_at=now)
    assert list(selectors.sessions_for_user(user)) == tied


@pytest.mark.django_db
def test_one_session_and_its_messages_only_for_their_owner(bystanders):
    session = conversation(turns=2)
    owner = session.user
    assert selectors.get_session(user=owner, session_id=str(session.pk)) == session
    assert selectors.get_session(user=owner, session_id=session.pk) == session
    messages = selectors.messages_for_session(user=owner, session_id=session.pk)
    assert [m.content for m in messages] == ["question 0", "answer 0", "question 1", "answer 1"]
    for session_id in (bystanders.session.pk, uuid.uuid4(), "nope", None, 12):
        with pytest.raises(SessionNotFound):
            selectors.get_session(user=owner, session_id=session_id)
        with pytest.raises(SessionNotFound):
            selectors.messages_for_session(user=owner, session_id=session_id)


@pytest.mark.django_db
def test_one_message_only_for_its_owner(bystanders, django_assert_num_queries):
    session = conversation(turns=1)
    message = session.messages.get(sequence=2)
    with django_assert_num_queries(1):
        found = selectors.get_message(user=session.user, message_id=str(message.pk))
        assert found.session.user_id == session.user.pk
    assert found == message
    for message_id in (bystanders.hidden.pk, uuid.uuid4(), "nope", None):
        with pytest.raises(MessageNotFound):
            selectors.get_message(user=session.user, message_id=message_id)


def test_parse_uuid_accepts_uuids_and_their_text_only():
    value = uuid.uuid4()
    assert selectors.parse_uuid(value) is value
    assert selectors.parse_uuid(str(value).upper()) == value
    for bad in ("", "x", None, 3.5, object()):
        with pytest.raises(SessionNotFound):
            selectors.parse_uuid(bad)
        with pytest.raises(MessageNotFound):
            selectors.parse_uuid(bad, not_found=MessageNotFound)


# Further back than a few hundred messages, as a long conversation's budget reaches.
FAR_BACK = 512


@pytest.mark.django_db
def test_a_budget_reaching_far_back_keeps_exactly_what_fits():
    session = ChatSessionFactory()
    one_branch(
        [
            Message(session=session, sequence=n, role="user", content=f"m{n}", token_count=1)
            for n in range(1, FAR_BACK + 101)
        ]
    )
    per_message = 1 + MESSAGE_OVERHEAD_TOKENS
    fitting = FAR_BACK + 50
    kept = list(
        selectors.context_history(
            last_id=before(session, FAR_BACK + 101), budget=fitting * per_message
        )
    )
    # The first message past the budget as well, on either database.
    expected = fitting + 1
    newest = FAR_BACK + 100
    assert [m.content for m in kept] == [f"m{n}" for n in range(newest, newest - expected, -1)]
