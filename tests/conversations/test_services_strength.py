"""conversations/services.py called directly, with the user's second conversation and a
second user's in the database: every service that takes a conversation or message id
answers 404 for another user's and changes nothing of theirs; each refusal's sentence and
field; what each write stores (exact rows, the current leaf, the event sent to the user's
tabs) and what it leaves alone; a regenerate's question, context, rate and quota."""

from __future__ import annotations

import base64
import copy
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from attachments import attaching
from attachments import selectors as attachment_selectors
from attachments.errors import FileNotFound
from attachments.models import MessageAttachment, StoredFile
from attachments.storage import file_storage
from catalogue.entries import ModelEntry
from chatbot.env import parse_rate
from conversations import events, limits, llm, selectors, services
from conversations.context import (
    MESSAGE_OVERHEAD_TOKENS,
    REPLY_PRIMING_TOKENS,
    count_tokens,
    system_prompt_for,
)
from conversations.errors import (
    ChatSuspended,
    MessageBlocked,
    MessageNotFound,
    ModerationUnavailable,
    NothingToRegenerate,
    RateLimited,
    ReplyInProgress,
    SessionNotFound,
)
from conversations.models import ChatSession, IdempotencyKey, Message
from core.errors import InvalidInput
from tests.factories import ChatSessionFactory, MessageFactory, UserFactory, conversation

pytestmark = pytest.mark.django_db

USER, ASSISTANT = Message.Role.USER, Message.Role.ASSISTANT


def entry(model_id: str, *, prompt_budget: int = 3000, **fields) -> ModelEntry:
    """A catalogue model whose prompt may use exactly ``prompt_budget`` tokens."""
    return ModelEntry(
        id=model_id,
        label=model_id.title(),
        provider=None,
        upstream=model_id,
        context_tokens=2 * prompt_budget,
        reply_tokens=prompt_budget,
        **fields,
    )


MODELS = (
    entry("main", default=True),
    entry("second"),
    entry("staff-only", groups=frozenset({"staff"})),
    entry("seer", vision=True),
)


@pytest.fixture
def catalogue(settings):
    """Three models; one restricted to a group, so the user's groups are always read."""
    settings.CHATBOT_MODELS = MODELS
    settings.CHATBOT_SYSTEM_PROMPT = "Base prompt."
    settings.CHATBOT_MODERATION = "off"
    return settings


@pytest.fixture
def published(monkeypatch) -> list[tuple]:
    """The events sent to users' open tabs: (user id, event)."""
    sent: list[tuple] = []
    monkeypatch.setattr(events, "publish_sync", lambda user, event: sent.append((user, event)))
    return sent


def snapshot(session: ChatSession) -> list[tuple]:
    """A conversation's row and its messages' rows, to check that nothing changed."""
    row = ChatSession.objects.values_list(
        "title", "model", "instructions", "current_message_id", "updated_at", "flagged"
    ).get(pk=session.pk)
    messages = Message.objects.filter(session=session).order_by("sequence")
    return [row, *messages.values_list("pk", "parent_id", "content", "status", "hidden")]


def message(session, role, content, **fields) -> Message:
    return MessageFactory(session=session, role=role, content=content, **fields)


@pytest.fixture
def world(db, bystanders, catalogue):
    """The user's conversation as a tree, first -> a1 -> second -> a2, with "second" edited
    (a1 -> edited -> e2, current); the user's other conversation; a second user's."""
    user = UserFactory(custom_instructions="Call me Ada.")
    other = conversation(user, turns=1, title="Other chat", model="main")
    session = ChatSessionFactory(user=user, title="Trip", model="second")
    first = message(session, USER, "first question")
    a1 = message(session, ASSISTANT, "first answer")
    second = message(session, USER, "second question")
    a2 = message(session, ASSISTANT, "second answer")
    edited = message(session, USER, "second question, edited", parent=a1)
    e2 = message(session, ASSISTANT, "edited answer")
    session.refresh_from_db()
    world = SimpleNamespace(
        user=user,
        session=session,
        other=other,
        first=first,
        a1=a1,
        second=second,
        a2=a2,
        edited=edited,
        e2=e2,
        bystanders=bystanders,
    )
    world.other_before = snapshot(other)
    world.before = snapshot(session)
    return world


def untouched(world) -> bool:
    """The user's other conversation and the second user's are as they were."""
    return snapshot(world.other) == world.other_before and world.bystanders.unchanged()


def current_id(session):
    return ChatSession.objects.values_list("current_message_id", flat=True).get(pk=session.pk)


# --- Another user's conversation or message: 404, nothing changed -----------------------


def test_every_service_answers_404_for_another_users_conversation(world, published):
    theirs = world.bystanders.session
    their_message = world.bystanders.messages[1]
    calls = [
        lambda: services.rename_session(user=world.user, session_id=theirs.pk, title="Mine"),
        lambda: services.configure_session(user=world.user, session_id=theirs.pk, model="second"),
        lambda: services.configure_session(user=world.user, session_id=theirs.pk, instructions="x"),
        lambda: services.delete_session(user=world.user, session_id=theirs.pk),
        lambda: services.switch_branch(
            user=world.user, session_id=theirs.pk, message_id=their_message.pk
        ),
        lambda: services.check_regenerate(user=world.user, session_id=theirs.pk),
        lambda: services.check_regenerate(
            user=world.user, session_id=theirs.pk, message_id=their_message.pk
        ),
        lambda: services.do_send(user=world.user, text="mine now", session_id=theirs.pk),
        lambda: services.do_send(
            user=world.user,
            text="mine now",
            session_id=theirs.pk,
            edit_message_id=world.bystanders.messages[0].pk,
        ),
    ]
    for call in calls:
        with pytest.raises(SessionNotFound):
            call()
    with pytest.raises(MessageNotFound):
        services.do_send(
            user=world.user, text="mine now", edit_message_id=world.bystanders.messages[0].pk
        )
    for bad_id in ("nope", None, 12):
        with pytest.raises(SessionNotFound):
            services.delete_session(user=world.user, session_id=bad_id)
    assert untouched(world) and snapshot(world.session) == world.before
    assert published == []


def test_a_message_of_the_users_other_conversation_is_not_found_in_this_one(world, published):
    elsewhere = world.other.messages.order_by("sequence")
    question, answer = list(elsewhere)
    with pytest.raises(MessageNotFound):
        services.switch_branch(user=world.user, session_id=world.session.pk, message_id=answer.pk)
    with pytest.raises(MessageNotFound):
        services.switch_branch(user=world.user, session_id=world.session.pk, message_id="nope")
    with pytest.raises(MessageNotFound):
        services.check_regenerate(
            user=world.user, session_id=world.session.pk, message_id=answer.pk
        )
    with pytest.raises(MessageNotFound):
        services.do_send(
            user=world.user,
            text="x",
            session_id=world.session.pk,
            edit_message_id=question.pk,
        )
    assert untouched(world) and snapshot(world.session) == world.before
    assert published == []


# --- Switching branches ------------------------------------------------------------------


def test_switching_makes_the_newest_leaf_under_the_message_current_and_tells_the_tabs(
    world, published
):
    session = services.switch_branch(
        user=world.user, session_id=world.session.pk, message_id=world.second.pk
    )
    assert session.pk == world.session.pk
    assert session.current_message_id == world.a2.pk == current_id(world.session)
    assert published == [
        (
            world.user.pk,
            {
                "type": "chat.branch",
                "sessionId": str(world.session.pk),
                "currentMessageId": str(world.a2.pk),
            },
        )
    ]
    # From the first message: at each step the newest child (the edit's branch).
    session = services.switch_branch(
        user=world.user, session_id=str(world.session.pk), message_id=str(world.first.pk)
    )
    assert session.current_message_id == world.e2.pk == current_id(world.session)
    assert published[-1][1]["currentMessageId"] == str(world.e2.pk)
    assert untouched(world)


# --- Configuring, renaming, deleting -----------------------------------------------------


def test_configuring_the_model_stores_it_and_nothing_else(world):
    session = services.configure_session(user=world.user, session_id=world.session.pk, model="main")
    assert (session.model, session.instructions) == ("main", "")
    stored = ChatSession.objects.get(pk=world.session.pk)
    assert (stored.model, stored.instructions, stored.title) == ("main", "", "Trip")
    assert untouched(world)


def test_configuring_the_instructions_keeps_the_model(world):
    session = services.configure_session(
        user=world.user, session_id=world.session.pk, instructions="Answer in French."
    )
    assert (session.model, session.instructions) == ("second", "Answer in French.")
    stored = ChatSession.objects.get(pk=world.session.pk)
    assert (stored.model, stored.instructions) == ("second", "Answer in French.")
    assert untouched(world)


def test_configuring_nothing_changes_nothing(world, django_assert_num_queries):
    with django_assert_num_queries(1):
        session = services.configure_session(user=world.user, session_id=world.session.pk)
    assert (session.model, session.instructions) == ("second", "")
    assert snapshot(world.session) == world.before


def test_a_restricted_model_is_unknown_until_the_user_is_in_its_group(world):
    with pytest.raises(InvalidInput) as refused:
        services.configure_session(user=world.user, session_id=world.session.pk, model="staff-only")
    assert (refused.value.detail, refused.value.field) == ("Unknown model 'staff-only'.", "model")
    assert snapshot(world.session) == world.before
    world.user.groups.add(Group.objects.create(name="staff"))
    session = services.configure_session(
        user=world.user, session_id=world.session.pk, model="staff-only"
    )
    assert ChatSession.objects.get(pk=session.pk).model == "staff-only"


def test_instructions_of_4000_characters_are_kept_and_4001_refused_with_the_count(world):
    services.configure_session(
        user=world.user, session_id=world.session.pk, instructions="i" * 4000
    )
    assert ChatSession.objects.get(pk=world.session.pk).instructions == "i" * 4000
    with pytest.raises(InvalidInput) as refused:
        services.configure_session(
            user=world.user, session_id=world.session.pk, instructions="j" * 4001
        )
    assert refused.value.field == "instructions"
    assert refused.value.detail == (
        "The instructions are too long: 4001 characters, the limit is 4000."
    )
    with pytest.raises(InvalidInput) as refused:
        services.configure_session(
            user=world.user, session_id=world.session.pk, instructions="tab\x00nul"
        )
    assert refused.value.field == "instructions"
    assert refused.value.detail == "The instructions contain characters that are not allowed."
    assert ChatSession.objects.get(pk=world.session.pk).instructions == "i" * 4000


@pytest.fixture
def meanwhile(monkeypatch):
    """``selectors.get_session`` followed by another request's write to the same row
    (a rename or a configure landing between a service's read and its save)."""
    original = selectors.get_session
    writes: dict = {}

    def get_session(*, user, session_id):
        session = original(user=user, session_id=session_id)
        ChatSession.objects.filter(pk=session.pk).update(**writes)
        return session

    monkeypatch.setattr(selectors, "get_session", get_session)
    return writes


def test_a_configure_writes_only_its_own_fields_over_a_rename_made_meanwhile(world, meanwhile):
    meanwhile["title"] = "Renamed meanwhile"
    services.configure_session(
        user=world.user, session_id=world.session.pk, model="main", instructions="Brief."
    )
    stored = ChatSession.objects.get(pk=world.session.pk)
    assert (stored.title, stored.model, stored.instructions) == (
        "Renamed meanwhile",
        "main",
        "Brief.",
    )


def test_a_rename_writes_only_the_title_over_a_configure_made_meanwhile(world, meanwhile):
    meanwhile["instructions"] = "Set meanwhile."
    services.rename_session(user=world.user, session_id=world.session.pk, title="New")
    stored = ChatSession.objects.get(pk=world.session.pk)
    assert (stored.title, stored.instructions) == ("New", "Set meanwhile.")


def test_a_rename_stores_the_clean_title_and_tells_the_tabs(world, published):
    session = services.rename_session(
        user=world.user, session_id=world.session.pk, title="  Lisbon in spring \n"
    )
    assert session.title == "Lisbon in spring"
    assert ChatSession.objects.get(pk=world.session.pk).title == "Lisbon in spring"
    assert published == [
        (
            world.user.pk,
            {"type": "chat.title", "sessionId": str(world.session.pk), "title": "Lisbon in spring"},
        )
    ]
    with pytest.raises(InvalidInput):
        services.rename_session(user=world.user, session_id=world.session.pk, title=" ")
    assert ChatSession.objects.get(pk=world.session.pk).title == "Lisbon in spring"
    assert len(published) == 1
    assert untouched(world)


def test_deleting_a_conversation_deletes_it_alone_and_tells_the_tabs(world, published):
    services.delete_session(user=world.user, session_id=str(world.session.pk))
    assert not ChatSession.objects.filter(pk=world.session.pk).exists()
    assert not Message.objects.filter(session_id=world.session.pk).exists()
    assert published == [
        (world.user.pk, {"type": "chat.session_deleted", "sessionId": str(world.session.pk)})
    ]
    assert untouched(world)


def test_deleting_all_of_a_users_conversations_leaves_other_users_alone(world, published):
    services.delete_all_sessions(user=world.user)
    assert not ChatSession.objects.filter(user=world.user).exists()
    assert not Message.objects.filter(session__user=world.user).exists()
    assert world.bystanders.unchanged()
    assert published == []


# --- Edits ---------------------------------------------------------------------------------


def test_an_edit_is_a_sibling_of_the_edited_message_with_or_without_the_conversation(world):
    turn = services.do_send(
        user=world.user, text="again", session_id=world.session.pk, edit_message_id=world.second.pk
    )
    assert turn.session.pk == world.session.pk
    assert turn.user_message.parent_id == world.a1.pk
    assert turn.reply.parent_id == turn.user_message.pk
    assert current_id(world.session) == turn.reply.pk
    turn = services.do_send(user=world.user, text="once more", edit_message_id=world.first.pk)
    assert turn.session.pk == world.session.pk
    assert turn.user_message.parent_id is None
    assert turn.user_message.sibling_ids == [str(world.first.pk), str(turn.user_message.pk)]
    assert untouched(world)


def test_editing_a_reply_is_refused_naming_the_field(world):
    for session_id in (world.session.pk, None):
        with pytest.raises(InvalidInput) as refused:
            services.do_send(
                user=world.user, text="x", session_id=session_id, edit_message_id=world.a1.pk
            )
        assert refused.value.field == "editMessageId"
        assert refused.value.detail == "editMessageId must be one of your messages."
    assert snapshot(world.session) == world.before


# --- Regenerating --------------------------------------------------------------------------


def system_for(user, session) -> str:
    return system_prompt_for(
        user_instructions=user.custom_instructions, chat_instructions=session.instructions
    )


def test_regenerating_answers_the_current_leafs_question_again_beside_the_old_reply(
    world,
):
    before = timezone.now()
    turn = services.check_regenerate(user=world.user, session_id=world.session.pk)
    assert turn.session.pk == world.session.pk and turn.session.user_id == world.user.pk
    assert turn.user_message == world.edited
    reply = Message.objects.get(pk=turn.reply.pk)
    assert (reply.parent_id, reply.sequence, reply.role, reply.status, reply.content) == (
        world.edited.pk,
        7,
        ASSISTANT,
        Message.Status.STREAMING,
        "",
    )
    assert reply.model == "second"
    assert turn.reply.sibling_ids == [str(world.e2.pk), str(turn.reply.pk)]
    assert turn.user_message.attached_files == [] and turn.reply.attached_files == []
    stored = ChatSession.objects.get(pk=world.session.pk)
    assert stored.current_message_id == turn.reply.pk and stored.flagged is False
    assert stored.updated_at == reply.created_at == reply.updated_at >= before
    system = system_for(world.user, world.session)
    assert turn.context.messages == [
        {"role": "system", "content": system},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "second question, edited"},
    ]
    assert turn.context.model.id == "second"
    assert turn.reservation is None
    assert untouched(world)


def test_regenerating_a_reply_on_another_branch_answers_its_own_question(world):
    turn = services.check_regenerate(
        user=world.user, session_id=world.session.pk, message_id=str(world.a2.pk)
    )
    assert turn.user_message == world.second
    assert turn.reply.parent_id == world.second.pk
    assert [m["content"] for m in turn.context.messages[1:]] == [
        "first question",
        "first answer",
        "second question",
    ]
    assert current_id(world.session) == turn.reply.pk
    assert untouched(world)


def test_a_suspended_user_cannot_regenerate(world):
    world.user.chat_suspended = True
    world.user.save()
    with pytest.raises(ChatSuspended):
        services.check_regenerate(user=world.user, session_id=world.session.pk)
    assert snapshot(world.session) == world.before


def test_regenerating_a_users_message_is_refused_naming_the_field(world):
    with pytest.raises(InvalidInput) as refused:
        services.check_regenerate(
            user=world.user, session_id=world.session.pk, message_id=world.second.pk
        )
    assert (refused.value.field, refused.value.detail) == (
        "messageId",
        "messageId must be a reply of the assistant.",
    )
    assert snapshot(world.session) == world.before


def test_a_reply_in_progress_refuses_a_regenerate_until_its_writer_is_stale(world, settings):
    streaming = message(world.session, ASSISTANT, "half", status=Message.Status.STREAMING)
    with pytest.raises(ReplyInProgress):
        services.check_regenerate(user=world.user, session_id=world.session.pk)
    long_ago = timezone.now() - timedelta(seconds=settings.CHATBOT_STREAM_STALE_AFTER + 1)
    Message.objects.filter(pk=streaming.pk).update(updated_at=long_ago)
    turn = services.check_regenerate(
        user=world.user, session_id=world.session.pk, message_id=world.e2.pk
    )
    assert turn.user_message == world.edited
    assert Message.objects.get(pk=streaming.pk).status == Message.Status.FAILED
    # The second user's stale reply is theirs to sweep, not this conversation's.
    assert untouched(world)


def test_a_hidden_question_is_skipped_up_the_branch(world):
    Message.objects.filter(pk=world.edited.pk).update(hidden=True)
    turn = services.check_regenerate(user=world.user, session_id=world.session.pk)
    assert turn.user_message == world.first
    assert turn.reply.parent_id == world.first.pk
    Message.objects.filter(pk=turn.reply.pk).update(status=Message.Status.COMPLETE)
    with pytest.raises(NothingToRegenerate):
        services.check_regenerate(
            user=world.user, session_id=world.session.pk, message_id=world.e2.pk
        )


@pytest.mark.parametrize("layout", ["empty", "hidden only", "reply to a reply"])
def test_nothing_to_regenerate(world, layout):
    session = ChatSessionFactory(user=world.user)
    message_id = None
    if layout == "hidden only":
        message(session, USER, "hidden", hidden=True)
        message(session, ASSISTANT, "answer")
    elif layout == "reply to a reply":
        message(session, ASSISTANT, "imported greeting")
        message_id = message(session, ASSISTANT, "imported second reply").pk
    before = snapshot(session)
    with pytest.raises(NothingToRegenerate):
        services.check_regenerate(user=world.user, session_id=session.pk, message_id=message_id)
    assert snapshot(session) == before


@pytest.mark.parametrize(
    ("mode", "question", "answered"),
    [
        ("block", {}, True),
        ("block", {"flagged": True}, False),
        ("block", {"moderation_failed": True}, False),
        ("flag", {"flagged": True}, True),
        ("flag", {"moderation_failed": True}, True),
    ],
)
def test_in_block_mode_a_refused_question_is_not_answered_again(
    world, settings, mode, question, answered
):
    settings.CHATBOT_MODERATION = mode
    Message.objects.filter(pk=world.edited.pk).update(**question)
    if answered:
        turn = services.check_regenerate(user=world.user, session_id=world.session.pk)
        assert turn.user_message == world.edited
    else:
        with pytest.raises(NothingToRegenerate):
            services.check_regenerate(user=world.user, session_id=world.session.pk)


def test_a_regenerate_counts_against_the_users_send_rate(world, settings, frozen_clock):
    settings.CHATBOT_RATE_LIMIT = parse_rate("1/min")
    limits.check_send_rate(world.bystanders.user.pk)  # another user's count is theirs
    turn = services.do_send(user=world.user, text="one", session_id=world.session.pk)
    Message.objects.filter(pk=turn.reply.pk).update(status=Message.Status.COMPLETE)
    after_first = snapshot(world.session)
    with pytest.raises(RateLimited) as refused:
        services.check_regenerate(user=world.user, session_id=world.session.pk)
    assert refused.value.retry_after == 61
    assert snapshot(world.session) == after_first


def quota_key(user, clock) -> str:
    day = datetime.fromtimestamp(clock.now, UTC).date()
    return f"token-quota:{user.pk}:{day.isoformat()}"


def test_a_regenerate_holds_its_worst_case_against_the_users_quota(world, settings, frozen_clock):
    settings.CHATBOT_DAILY_TOKEN_QUOTA = 100_000
    turn = services.check_regenerate(user=world.user, session_id=world.session.pk)
    system = system_for(world.user, world.session)
    texts = ["first question", "first answer", "second question, edited"]
    prompt = (
        REPLY_PRIMING_TOKENS
        + count_tokens(system)
        + sum(count_tokens(text) + MESSAGE_OVERHEAD_TOKENS for text in texts)
        + MESSAGE_OVERHEAD_TOKENS
    )
    assert turn.context.prompt_tokens == prompt
    held = prompt + settings.CHATBOT_MAX_REPLY_TOKENS
    key = quota_key(world.user, frozen_clock)
    assert turn.reservation == limits.Reservation(keys=(key,), tokens=held)
    assert cache.get(key) == held
    assert cache.get(quota_key(world.bystanders.user, frozen_clock)) is None


def test_a_regenerate_that_fails_after_its_reservation_gives_it_back_and_stores_nothing(
    world, settings, frozen_clock, monkeypatch
):
    settings.CHATBOT_DAILY_TOKEN_QUOTA = 100_000

    def broken(messages):
        raise RuntimeError("files unreadable")

    monkeypatch.setattr(attachment_selectors, "with_attached_files", broken)
    with pytest.raises(RuntimeError):
        services.check_regenerate(user=world.user, session_id=world.session.pk)
    assert cache.get(quota_key(world.user, frozen_clock)) == 0
    assert snapshot(world.session) == world.before


# --- Sending: which conversation and model ---------------------------------------------


def message_reads(queries) -> list[str]:
    return [
        q["sql"]
        for q in queries
        if q["sql"].startswith("SELECT") and '"conversations_message"' in q["sql"]
    ]


def test_a_new_conversation_is_the_users_with_the_default_model_and_reads_no_message(world):
    with CaptureQueriesContext(connection) as queries:
        turn = services.check_send(user=world.user, text="Hello there").turn
    assert message_reads(queries.captured_queries) == []
    assert turn.created_session is True
    stored = ChatSession.objects.get(pk=turn.session.pk)
    assert (stored.user_id, stored.model, stored.title) == (world.user.pk, "main", "")
    assert stored.created_at == stored.updated_at == turn.user_message.created_at
    assert stored.current_message_id == turn.reply.pk
    assert turn.user_message.token_count == count_tokens("Hello there")
    system = system_for(world.user, stored)
    assert turn.context.messages == [
        {"role": "system", "content": system},
        {"role": "user", "content": "Hello there"},
    ]
    assert untouched(world)


def test_a_new_conversation_takes_the_model_asked_for(world):
    turn = services.check_send(user=world.user, text="Hello", model="second").turn
    assert ChatSession.objects.get(pk=turn.session.pk).model == "second"
    assert turn.reply.model == "second"
    with pytest.raises(InvalidInput) as refused:
        services.check_send(user=world.user, text="Hello", model="staff-only")
    assert (refused.value.detail, refused.value.field) == ("Unknown model 'staff-only'.", "model")


def test_a_send_keeps_the_conversations_model_or_switches_it_to_the_one_asked_for(world):
    turn = services.do_send(user=world.user, text="go on", session_id=world.session.pk)
    assert turn.created_session is False
    assert turn.reply.model == "second"
    assert ChatSession.objects.get(pk=world.session.pk).model == "second"
    turn = services.do_send(
        user=world.user, text="same model", session_id=world.session.pk, model="second"
    )
    assert turn.reply.model == "second"
    turn = services.do_send(
        user=world.user, text="switch", session_id=world.session.pk, model="main"
    )
    assert turn.reply.model == "main" and turn.session.model == "main"
    assert ChatSession.objects.get(pk=world.session.pk).model == "main"
    assert turn.user_message.token_count == count_tokens("switch")
    # Back to a model that is not the default.
    turn = services.do_send(
        user=world.user, text="switch back", session_id=world.session.pk, model="second"
    )
    assert turn.reply.model == "second" and turn.session.model == "second"
    assert ChatSession.objects.get(pk=world.session.pk).model == "second"
    assert untouched(world)


def test_a_first_message_must_fit_with_the_conversations_instructions(
    world, settings, frozen_clock
):
    # Refused before the send is counted: the next one is within a rate of one a minute.
    settings.CHATBOT_RATE_LIMIT = parse_rate("1/min")
    ChatSession.objects.filter(pk=world.session.pk).update(instructions="Answer in verse. " * 20)
    world.session.refresh_from_db()
    text = "A question of some length for the budget"
    system = system_for(world.user, world.session)
    needed = REPLY_PRIMING_TOKENS + count_tokens(system) + 2 * MESSAGE_OVERHEAD_TOKENS
    needed += count_tokens(text)
    # The conversation's own model's budget, not the default's.
    settings.CHATBOT_MODELS = (MODELS[0], entry("second", prompt_budget=needed - 1))
    with pytest.raises(InvalidInput) as refused:
        services.do_send(user=world.user, text=text, session_id=world.session.pk)
    assert (refused.value.field, refused.value.detail) == (
        "message",
        "This message is too long for the model's context. Please shorten it.",
    )
    assert snapshot(world.session)[1:] == world.before[1:]
    settings.CHATBOT_MODELS = (entry("second", prompt_budget=needed, default=True),)
    turn = services.do_send(user=world.user, text=text, session_id=world.session.pk)
    assert turn.user_message.content == text


def document(user, text: str, name: str = "notes.txt") -> StoredFile:
    return StoredFile.objects.create(
        owner=user,
        name=name,
        size=len(text),
        content_type="text/plain",
        kind=StoredFile.Kind.DOCUMENT,
        text=text,
        sha256="0" * 64,
        key=f"test/{user.pk}/{name}",
    )


@pytest.mark.parametrize("new", [True, False])
def test_a_sends_files_are_the_users_own_linked_to_its_message(world, new):
    note = document(world.user, "Revenue: 12")
    theirs = document(world.bystanders.user, "Their secret", name="theirs.txt")
    session_id = None if new else world.session.pk
    with pytest.raises(FileNotFound):
        services.do_send(
            user=world.user, text="Summarize", session_id=session_id, attachments=[str(theirs.pk)]
        )
    turn = services.do_send(
        user=world.user, text="Summarize", session_id=session_id, attachments=[str(note.pk)]
    )
    links = list(MessageAttachment.objects.values_list("message_id", "file_id"))
    assert links == [(turn.user_message.pk, note.pk)]
    block = attaching.document_block(note)
    assert turn.user_message.token_count == count_tokens("Summarize") + count_tokens(block)
    assert turn.context.messages[-1]["content"] == f"Summarize\n\n{block}"


def test_a_files_room_is_what_the_conversations_instructions_leave(world, settings):
    ChatSession.objects.filter(pk=world.session.pk).update(instructions="Answer in verse. " * 20)
    world.session.refresh_from_db()
    note = document(world.user, "Revenue: 12, costs: 7, margin: 5")
    text = "Summarize"
    system = system_for(world.user, world.session)
    fixed = REPLY_PRIMING_TOKENS + count_tokens(system) + MESSAGE_OVERHEAD_TOKENS
    needed = fixed + count_tokens(text) + count_tokens(attaching.document_block(note))
    settings.CHATBOT_MODELS = (entry("second", prompt_budget=needed - 1, default=True),)
    with pytest.raises(InvalidInput) as refused:
        services.do_send(
            user=world.user, text=text, session_id=world.session.pk, attachments=[str(note.pk)]
        )
    assert refused.value.field == "attachments"
    assert refused.value.detail.startswith(
        f"The attachments need {count_tokens(attaching.document_block(note))} tokens but only "
        f"{needed - 1 - fixed - count_tokens(text)} are available"
    )
    # The message alone already over the budget: no room at all, not less than none.
    over = fixed + count_tokens(text) - 1
    settings.CHATBOT_MODELS = (entry("second", prompt_budget=over, default=True),)
    with pytest.raises(InvalidInput) as refused:
        services.do_send(
            user=world.user, text=text, session_id=world.session.pk, attachments=[str(note.pk)]
        )
    assert refused.value.detail.startswith(
        f"The attachments need {count_tokens(attaching.document_block(note))} tokens but only "
        "0 are available"
    )
    assert not MessageAttachment.objects.exists()


# --- The rows of a send ----------------------------------------------------------------


def rows(session) -> list[tuple]:
    return list(
        Message.objects.filter(session=session)
        .order_by("sequence")
        .values_list("sequence", "parent_id", "role", "status", "content")
    )


def test_a_send_continues_the_current_leaf_with_its_message_and_an_empty_reply(world):
    before = timezone.now()
    turn = services.do_send(user=world.user, text="third question", session_id=world.session.pk)
    assert turn.session.pk == world.session.pk and turn.session.user_id == world.user.pk
    assert (turn.created_session, turn.replayed, turn.reservation) == (False, False, None)
    question, reply = turn.user_message, turn.reply
    assert rows(world.session)[6:] == [
        (7, world.e2.pk, USER, Message.Status.COMPLETE, "third question"),
        (8, question.pk, ASSISTANT, Message.Status.STREAMING, ""),
    ]
    stored = Message.objects.get(pk=question.pk)
    assert stored.token_count == count_tokens("third question")
    assert (stored.flagged, stored.flag_categories, stored.moderation_failed) == (False, [], False)
    assert stored.created_at == stored.updated_at == question.created_at >= before
    stored_reply = Message.objects.get(pk=reply.pk)
    assert stored_reply.model == "second"
    assert stored_reply.created_at == stored_reply.updated_at == question.created_at
    session = ChatSession.objects.get(pk=world.session.pk)
    assert session.current_message_id == reply.pk and session.flagged is False
    assert session.updated_at == stored.created_at
    assert question.sibling_ids == [str(question.pk)] and reply.sibling_ids == [str(reply.pk)]
    assert question.attached_files == []
    assert turn.context.messages == [
        {"role": "system", "content": system_for(world.user, world.session)},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "second question, edited"},
        {"role": "assistant", "content": "edited answer"},
        {"role": "user", "content": "third question"},
    ]
    assert untouched(world)


def test_a_new_conversations_first_turn_is_sequences_one_and_two(world):
    turn = services.do_send(user=world.user, text="Hello")
    assert turn.created_session is True
    assert rows(turn.session) == [
        (1, None, USER, Message.Status.COMPLETE, "Hello"),
        (2, turn.user_message.pk, ASSISTANT, Message.Status.STREAMING, ""),
    ]
    assert turn.user_message.sibling_ids == [str(turn.user_message.pk)]
    assert turn.reply.sibling_ids == [str(turn.reply.pk)]
    assert turn.reply.my_rating is None and turn.reply.my_comment is None
    stored = ChatSession.objects.get(pk=turn.session.pk)
    assert (stored.flagged, stored.current_message_id) == (False, turn.reply.pk)
    assert untouched(world)


def test_a_send_numbers_after_the_last_message_of_every_branch(world):
    services.switch_branch(user=world.user, session_id=world.session.pk, message_id=world.a2.pk)
    turn = services.do_send(user=world.user, text="on the old branch", session_id=world.session.pk)
    assert (turn.user_message.sequence, turn.reply.sequence) == (7, 8)
    assert turn.user_message.parent_id == world.a2.pk
    empty = ChatSessionFactory(user=world.user, model="main")
    turn = services.do_send(user=world.user, text="first", session_id=empty.pk)
    assert rows(empty) == [
        (1, None, USER, Message.Status.COMPLETE, "first"),
        (2, turn.user_message.pk, ASSISTANT, Message.Status.STREAMING, ""),
    ]


def test_a_conversation_stored_without_a_current_leaf_continues_its_last_message(world):
    ChatSession.objects.filter(pk=world.session.pk).update(current_message=None)
    turn = services.do_send(user=world.user, text="after import", session_id=world.session.pk)
    assert turn.user_message.parent_id == world.e2.pk  # the highest sequence


def test_a_flagged_message_in_flag_mode_is_answered_and_flags_its_conversation(world, settings):
    settings.CHATBOT_MODERATION = "flag"
    check = services.ContentCheck(flagged=True, categories=("harassment", "violence"))
    turn = services.do_send(
        user=world.user, text="rude", session_id=world.session.pk, content=check
    )
    stored = Message.objects.get(pk=turn.user_message.pk)
    assert (stored.flagged, stored.flag_categories, stored.moderation_failed) == (
        True,
        ["harassment", "violence"],
        False,
    )
    assert turn.reply is not None
    session = ChatSession.objects.get(pk=world.session.pk)
    assert session.flagged is True and session.current_message_id == turn.reply.pk
    failed = services.do_send(
        user=world.user,
        text="unchecked",
        session_id=world.session.pk,
        content=services.ContentCheck(failed=True),
    )
    assert Message.objects.get(pk=failed.user_message.pk).moderation_failed is True
    assert failed.reply is not None
    assert untouched(world)


@pytest.mark.parametrize("new", [True, False])
def test_in_block_mode_a_refused_message_is_kept_without_a_reply(world, settings, new):
    settings.CHATBOT_MODERATION = "block"
    session_id = None if new else world.session.pk
    with pytest.raises(MessageBlocked):
        services.do_send(
            user=world.user,
            text="rude",
            session_id=session_id,
            content=services.ContentCheck(flagged=True, categories=("harassment",)),
        )
    kept = Message.objects.filter(session__user=world.user, content="rude").get()
    assert (kept.role, kept.flagged, kept.flag_categories) == (USER, True, ["harassment"])
    assert not Message.objects.filter(parent=kept).exists()
    session = ChatSession.objects.get(pk=kept.session_id)
    assert (session.current_message_id, session.flagged) == (kept.pk, True)
    assert kept.sequence == (1 if new else 7)
    with pytest.raises(ModerationUnavailable):
        services.do_send(
            user=world.user,
            text="unchecked",
            session_id=kept.session_id,
            content=services.ContentCheck(failed=True),
        )
    unchecked = Message.objects.get(session_id=kept.session_id, content="unchecked")
    assert unchecked.moderation_failed is True and unchecked.parent_id == kept.pk
    assert not Message.objects.filter(parent=unchecked).exists()
    assert untouched(world)


def test_a_send_counts_against_the_users_send_rate_and_a_refused_one_stores_nothing(
    world, settings, frozen_clock
):
    settings.CHATBOT_RATE_LIMIT = parse_rate("1/min")
    limits.check_send_rate(world.bystanders.user.pk)
    services.do_send(user=world.user, text="one", session_id=world.session.pk)
    after_first = snapshot(world.session)
    with pytest.raises(RateLimited) as refused:
        services.do_send(user=world.user, text="two", session_id=world.session.pk)
    assert refused.value.retry_after == 61
    assert snapshot(world.session) == after_first
    # The sends were counted as the user's own: a third is refused whoever checks it.
    with pytest.raises(RateLimited):
        limits.check_send_rate(world.user.pk)


def test_a_send_holds_its_worst_case_against_the_users_quota(world, settings, frozen_clock):
    settings.CHATBOT_DAILY_TOKEN_QUOTA = 100_000
    turn = services.do_send(user=world.user, text="third", session_id=world.session.pk)
    texts = ["first question", "first answer", "second question, edited", "edited answer"]
    prompt = REPLY_PRIMING_TOKENS + count_tokens(system_for(world.user, world.session))
    prompt += sum(count_tokens(text) + MESSAGE_OVERHEAD_TOKENS for text in [*texts, "third"])
    prompt += MESSAGE_OVERHEAD_TOKENS
    assert turn.context.prompt_tokens == prompt
    key = quota_key(world.user, frozen_clock)
    held = prompt + settings.CHATBOT_MAX_REPLY_TOKENS
    assert turn.reservation == limits.Reservation(keys=(key,), tokens=held)
    assert cache.get(key) == held
    new = services.do_send(user=world.user, text="Hello")
    first_prompt = REPLY_PRIMING_TOKENS + count_tokens(system_for(world.user, new.session))
    first_prompt += count_tokens("Hello") + 2 * MESSAGE_OVERHEAD_TOKENS
    assert new.reservation.tokens == first_prompt + settings.CHATBOT_MAX_REPLY_TOKENS
    assert cache.get(key) == held + new.reservation.tokens


def test_a_send_that_fails_after_its_reservation_gives_it_back_and_stores_nothing(
    world, settings, frozen_clock, monkeypatch
):
    settings.CHATBOT_DAILY_TOKEN_QUOTA = 100_000

    def broken(messages):
        raise RuntimeError("ratings unreadable")

    monkeypatch.setattr(selectors, "with_sibling_ids", broken)
    with pytest.raises(RuntimeError):
        services.do_send(user=world.user, text="third", session_id=world.session.pk)
    assert cache.get(quota_key(world.user, frozen_clock)) == 0
    assert snapshot(world.session) == world.before


# --- Idempotency-Key -------------------------------------------------------------------


def test_a_key_is_remembered_with_its_message_and_replays_that_turn(
    world, django_assert_num_queries
):
    first = services.do_send(
        user=world.user, text="once", session_id=world.session.pk, idempotency_key="k-1"
    )
    record = IdempotencyKey.objects.get(user=world.user, key="k-1")
    assert record.user_message_id == first.user_message.pk
    assert record.created_at == first.user_message.created_at
    after_first = snapshot(world.session)
    again = services.do_send(
        user=world.user, text="once", session_id=world.session.pk, idempotency_key="k-1"
    )
    assert again.replayed is True and again.created_session is False
    assert (again.session.pk, again.user_message.pk, again.reply.pk) == (
        world.session.pk,
        first.user_message.pk,
        first.reply.pk,
    )
    assert again.user_message.attached_files == [] and again.reply.attached_files == []
    assert snapshot(world.session) == after_first
    with django_assert_num_queries(3):  # the key with its message and session, reply, files
        replay = services.replayed_turn(user=world.user, key="k-1")
        assert replay.session.title == "Trip"
    assert replay.reply.pk == first.reply.pk and replay.replayed is True
    assert services.replayed_turn(user=world.user, key=None) is None
    assert services.replayed_turn(user=world.user, key="k-2") is None
    assert services.replayed_turn(user=world.bystanders.user, key="k-1") is None


def test_another_key_or_another_users_key_is_a_new_turn(world):
    first = services.do_send(user=world.user, text="once", idempotency_key="k-1")
    other = services.do_send(user=world.user, text="once", idempotency_key="k-2")
    theirs = services.do_send(user=world.bystanders.user, text="once", idempotency_key="k-1")
    assert not other.replayed and not theirs.replayed
    assert len({first.user_message.pk, other.user_message.pk, theirs.user_message.pk}) == 3
    assert theirs.session.user_id == world.bystanders.user.pk


def test_a_replay_is_the_first_reply_of_the_keys_message(world):
    first = services.do_send(
        user=world.user, text="once", session_id=world.session.pk, idempotency_key="k-1"
    )
    Message.objects.filter(pk=first.reply.pk).update(status=Message.Status.COMPLETE)
    services.check_regenerate(user=world.user, session_id=world.session.pk)
    assert services.replayed_turn(user=world.user, key="k-1").reply.pk == first.reply.pk


def test_a_key_older_than_a_day_is_forgotten_and_remembered_anew(world):
    old = timezone.now() - timedelta(hours=24, seconds=1)
    theirs = world.bystanders.messages[0]
    for user, key, message in [
        (world.user, "k-old", world.first),
        (world.user, "k-other", world.first),
        (world.bystanders.user, "k-old", theirs),
    ]:
        IdempotencyKey.objects.create(user=user, key=key, user_message=message, created_at=old)
    assert services.replayed_turn(user=world.user, key="k-old") is None
    turn = services.do_send(
        user=world.user, text="anew", session_id=world.session.pk, idempotency_key="k-old"
    )
    assert turn.replayed is False and turn.user_message.content == "anew"
    kept = IdempotencyKey.objects.order_by("key", "user_message__sequence")
    assert sorted(kept.values_list("user_id", "key", "user_message_id")) == sorted(
        [
            (world.user.pk, "k-old", turn.user_message.pk),
            (world.user.pk, "k-other", world.first.pk),
            (world.bystanders.user.pk, "k-old", theirs.pk),
        ]
    )


def test_a_key_whose_first_send_was_blocked_is_refused_again(world, settings):
    settings.CHATBOT_MODERATION = "block"
    with pytest.raises(MessageBlocked):
        services.do_send(
            user=world.user,
            text="rude",
            session_id=world.session.pk,
            idempotency_key="k-1",
            content=services.ContentCheck(flagged=True),
        )
    services.do_send(user=world.user, text="sorry", session_id=world.session.pk)
    with pytest.raises(MessageBlocked):
        services.do_send(
            user=world.user, text="rude", session_id=world.session.pk, idempotency_key="k-1"
        )
    assert Message.objects.filter(session=world.session, content="rude").count() == 1


# --- Checking a message and a key --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        (42, "The message must be text."),
        (None, "The message must be text."),
        ("", "The message cannot be empty."),
        (" \n\t", "The message cannot be empty."),
        ("x" * 11, "The message is too long: 11 characters, the limit is 10."),
        ("ok\x00", "The message contains characters that are not allowed."),
        ("bell\x07", "The message contains characters that are not allowed."),
    ],
)
def test_a_refused_message_names_the_field_and_says_why(settings, text, sentence):
    settings.CHATBOT_MAX_MESSAGE_CHARS = 10
    with pytest.raises(InvalidInput) as refused:
        services.clean_message(text)
    assert (refused.value.field, refused.value.detail) == ("message", sentence)


def test_a_message_of_exactly_the_limit_is_kept_as_sent(settings):
    settings.CHATBOT_MAX_MESSAGE_CHARS = 10
    assert services.clean_message(" 12345678 ") == " 12345678 "
    assert services.clean_message("x") == "x"


@pytest.mark.parametrize("key", [None, "k", "x" * 255, "order-42/ü"])
def test_an_idempotency_key_of_1_to_255_printable_characters_is_kept(key):
    assert services.clean_idempotency_key(key) == key


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\tkey", "new\nline", 5, b"bytes"])
def test_another_idempotency_key_is_refused_naming_the_header(key):
    with pytest.raises(InvalidInput) as refused:
        services.clean_idempotency_key(key)
    assert (refused.value.field, refused.value.detail) == (
        "Idempotency-Key",
        "Idempotency-Key must be 1 to 255 printable characters.",
    )


# --- What the model is given -------------------------------------------------------------


def test_the_system_prompt_holds_the_users_and_the_conversations_instructions(world):
    ChatSession.objects.filter(pk=world.session.pk).update(instructions="Answer in French.")
    turn = services.do_send(user=world.user, text="third", session_id=world.session.pk)
    assert turn.context.messages[0] == {
        "role": "system",
        "content": (
            "Base prompt.\n\nInstructions from the user:\nCall me Ada.\n\n"
            "Instructions for this conversation:\nAnswer in French."
        ),
    }
    assert turn.context.model.id == "second"
    Message.objects.filter(pk=turn.reply.pk).update(status=Message.Status.COMPLETE)
    regenerated = services.check_regenerate(
        user=world.user, session_id=world.session.pk, message_id=world.a2.pk
    )
    assert regenerated.context.messages[0] == turn.context.messages[0]
    new = services.do_send(user=world.user, text="Hello")
    assert new.context.messages[0] == {
        "role": "system",
        "content": "Base prompt.\n\nInstructions from the user:\nCall me Ada.",
    }
    assert new.context.model.id == "main"


def test_the_history_read_is_bounded_by_the_prompt_budget_less_the_system_prompt(
    world, monkeypatch
):
    ChatSession.objects.filter(pk=world.session.pk).update(instructions="Answer in French.")
    original = selectors.context_history
    asked: list[dict] = []

    def context_history(**kwargs):
        asked.append(kwargs)
        return original(**kwargs)

    monkeypatch.setattr(selectors, "context_history", context_history)
    turn = services.do_send(user=world.user, text="third", session_id=world.session.pk)
    system = turn.context.messages[0]["content"]
    assert asked == [{"last_id": turn.user_message.pk, "budget": 3000 - count_tokens(system)}]


def test_a_long_history_is_cut_to_the_models_budget(world, settings):
    texts = ["first question", "first answer", "second question, edited", "edited answer"]
    system = system_for(world.user, world.session)
    fixed = REPLY_PRIMING_TOKENS + count_tokens(system) + MESSAGE_OVERHEAD_TOKENS
    newest = [*texts[2:], "third"]
    fits = fixed + sum(count_tokens(text) + MESSAGE_OVERHEAD_TOKENS for text in newest)
    settings.CHATBOT_MODELS = (entry("second", prompt_budget=fits, default=True),)
    turn = services.do_send(user=world.user, text="third", session_id=world.session.pk)
    assert [m["content"] for m in turn.context.messages[1:]] == newest
    assert turn.context.prompt_tokens == fits


def test_a_turns_context_is_prepared_again_from_its_branch(world):
    turn = services.do_send(user=world.user, text="third", session_id=world.session.pk)
    services.do_send(user=world.user, text="elsewhere", edit_message_id=world.first.pk)
    again = services.prepare_context(turn)
    assert again.messages == turn.context.messages
    assert again.prompt_tokens == turn.context.prompt_tokens
    assert again.model.id == "second"
    with pytest.raises(AssertionError):
        services.prepare_context(
            services.Turn(session=turn.session, user_message=turn.user_message, reply=None)
        )


def test_a_reply_in_a_conversation_without_a_model_is_the_default_models(world):
    session = conversation(world.user, turns=1, model="")
    turn = services.do_send(user=world.user, text="go on", session_id=session.pk)
    assert turn.reply.model == llm.default_model()
    assert turn.context.model.id == "main"


def test_the_turn_carries_the_conversation_as_stored(world, settings):
    settings.CHATBOT_MODERATION = "flag"
    turn = services.do_send(
        user=world.user,
        text="rude",
        session_id=world.session.pk,
        content=services.ContentCheck(flagged=True),
    )
    stored = ChatSession.objects.get(pk=world.session.pk)
    assert turn.session.current_message_id == stored.current_message_id == turn.reply.pk
    assert turn.session.updated_at == stored.updated_at
    assert turn.session.flagged is True


@pytest.mark.parametrize("new", [True, False])
def test_a_sends_files_are_kept_on_its_message_for_the_payload(world, new):
    note = document(world.user, "Revenue: 12")
    other = document(world.user, "Costs: 7", name="costs.txt")
    turn = services.do_send(
        user=world.user,
        text="Compare",
        session_id=None if new else world.session.pk,
        attachments=[str(other.pk), str(note.pk)],
    )
    assert turn.user_message.attached_files == [other, note]
    links = MessageAttachment.objects.order_by("position").values_list("file_id", "position")
    assert list(links) == [(other.pk, 0), (note.pk, 1)]


# --- The door: checked first, then the content check, then stored ----------------------


@pytest.fixture
def files_dir(settings, tmp_path):
    """The attachments storage in a folder of this test's own."""
    storages = copy.deepcopy(settings.STORAGES)
    storages["attachments"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": tmp_path / "attachments"},
    }
    settings.STORAGES = storages
    return tmp_path


PNG = b"\x89PNG\r\n\x1a\n not really an image"


def image(user, name: str = "photo.png") -> StoredFile:
    key = file_storage().save(f"test/{user.pk}/{name}", ContentFile(PNG))
    return StoredFile.objects.create(
        owner=user,
        name=name,
        size=len(PNG),
        content_type="image/png",
        kind=StoredFile.Kind.IMAGE,
        sha256="0" * 64,
        key=key,
    )


DATA_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()


def test_with_a_content_check_to_await_nothing_is_stored_yet(world, settings):
    settings.CHATBOT_MODERATION = "flag"
    checked = services.check_send(
        user=world.user,
        text=" hi ",
        session_id=world.session.pk,
        idempotency_key="k-1",
        model="main",
    )
    assert checked == services.CheckedSend(
        world.user, " hi ", world.session.pk, "k-1", model="main", images=()
    )
    checked = services.check_send(user=world.user, text="edited", edit_message_id=world.second.pk)
    assert checked == services.CheckedSend(
        world.user, "edited", None, None, edit_message_id=world.second.pk
    )
    assert snapshot(world.session) == world.before
    assert not IdempotencyKey.objects.exists()
    assert untouched(world)


def test_what_the_content_check_cannot_change_is_refused_before_it(world, settings):
    settings.CHATBOT_MODERATION = "block"
    theirs = document(world.bystanders.user, "Their secret", name="theirs.txt")
    other_question = world.other.messages.order_by("sequence").first()
    refusals = [
        ({"session_id": world.bystanders.session.pk}, SessionNotFound),
        ({"edit_message_id": other_question.pk, "session_id": world.session.pk}, MessageNotFound),
        ({"edit_message_id": world.bystanders.messages[0].pk}, MessageNotFound),
        ({"model": "staff-only"}, InvalidInput),
        ({"attachments": [str(theirs.pk)]}, FileNotFound),
        ({"text": ""}, InvalidInput),
        ({"idempotency_key": ""}, InvalidInput),
    ]
    for fields, error in refusals:
        with pytest.raises(error):
            services.check_send(**{"user": world.user, "text": "hi", **fields})
    world.user.chat_suspended = True
    with pytest.raises(ChatSuspended):
        services.check_send(user=world.user, text="hi")
    assert snapshot(world.session) == world.before and untouched(world)


def test_a_replayed_key_answers_before_the_content_check(world, settings):
    first = services.do_send(
        user=world.user, text="once", session_id=world.session.pk, idempotency_key="k-1"
    )
    settings.CHATBOT_MODERATION = "block"
    checked = services.check_send(
        user=world.user, text="once", session_id=world.session.pk, idempotency_key="k-1"
    )
    assert checked.turn.replayed is True
    assert (checked.turn.user_message.pk, checked.turn.reply.pk) == (
        first.user_message.pk,
        first.reply.pk,
    )


def test_images_go_to_the_content_check_for_a_model_that_takes_them(world, settings, files_dir):
    settings.CHATBOT_MODERATION = "flag"
    photo = image(world.user)
    ids = [str(photo.pk)]
    seer = ChatSessionFactory(user=world.user, model="seer")
    question = message(seer, USER, "look")
    refused = [
        {"attachments": ids},
        {"attachments": ids, "session_id": seer.pk, "model": "main"},
        {"attachments": ids, "session_id": world.session.pk},
    ]
    for fields in refused:
        with pytest.raises(InvalidInput) as refusal:
            services.check_send(user=world.user, text="see", **fields)
        assert refusal.value.field == "attachments"
        assert refusal.value.detail.startswith("This model does not accept images")
    accepted = [
        {"attachments": ids, "model": "seer"},
        {"attachments": ids, "session_id": seer.pk},
        {"attachments": ids, "edit_message_id": question.pk},
        {"attachments": ids, "edit_message_id": world.second.pk, "model": "seer"},
    ]
    for fields in accepted:
        checked = services.check_send(user=world.user, text="see", **fields)
        assert checked.images == (DATA_URL,)
        assert checked.attachments == ids
    assert not MessageAttachment.objects.exists()


def test_a_replay_after_a_race_on_the_key_answers_with_the_first_turn(world, monkeypatch):
    first = services.do_send(
        user=world.user, text="once", session_id=world.session.pk, idempotency_key="k-1"
    )
    real = services.replayed_turn
    calls = []

    def late(*, user, key):
        """The other request commits its key after this one looked for it."""
        calls.append(key)
        return None if len(calls) == 1 else real(user=user, key=key)

    monkeypatch.setattr(services, "replayed_turn", late)
    again = services.do_send(
        user=world.user, text="once", session_id=world.session.pk, idempotency_key="k-1"
    )
    assert calls == ["k-1", "k-1"]
    assert again.replayed is True and again.user_message.pk == first.user_message.pk
    assert Message.objects.filter(session=world.session, content="once").count() == 1
    monkeypatch.setattr(services, "replayed_turn", lambda *, user, key: None)
    with pytest.raises(IntegrityError):
        services.do_send(
            user=world.user, text="once", session_id=world.session.pk, idempotency_key="k-1"
        )


def test_a_replay_is_not_refused_by_a_later_content_check(world, settings):
    first = services.do_send(user=world.user, text="hello", idempotency_key="k-1")
    settings.CHATBOT_MODERATION = "block"
    again = services.do_send(
        user=world.user,
        text="hello",
        idempotency_key="k-1",
        content=services.ContentCheck(flagged=True),
    )
    assert again.replayed is True and again.reply.pk == first.reply.pk


async def test_the_content_check_is_the_moderation_endpoints_verdict(settings, monkeypatch, caplog):
    asked = []
    verdicts = [
        llm.ModerationResult(flagged=True, categories=["harassment", "hate"]),
        llm.ModerationUnavailable(),
    ]

    async def moderate(text, *, images=()):
        asked.append((text, images))
        verdict = verdicts.pop(0)
        if isinstance(verdict, Exception):
            raise verdict
        return verdict

    monkeypatch.setattr(llm, "moderate", moderate)
    settings.CHATBOT_MODERATION = "off"
    assert await services.check_content("hi", images=(DATA_URL,)) == services.ContentCheck()
    assert asked == []
    settings.CHATBOT_MODERATION = "flag"
    assert await services.check_content("hi", images=(DATA_URL,)) == services.ContentCheck(
        flagged=True, categories=("harassment", "hate")
    )
    assert asked == [("hi", (DATA_URL,))]
    settings.CHATBOT_MODERATION = "block"
    with caplog.at_level("WARNING", logger="conversations.services"):
        assert await services.check_content("again") == services.ContentCheck(failed=True)
    assert [r.getMessage() for r in caplog.records if r.name == "conversations.services"] == [
        "moderation check failed; mode is block"
    ]


async def test_a_stored_turn_needs_no_content_check(settings, monkeypatch):
    async def moderate(text, *, images=()):
        raise AssertionError("not asked")

    monkeypatch.setattr(llm, "moderate", moderate)
    settings.CHATBOT_MODERATION = "block"
    turn = services.Turn(session=None, user_message=None, reply=None, replayed=True)
    checked = services.CheckedSend(user=None, text="hi", session_id=None, idempotency_key=None)
    assert await services.finish_send(replace(checked, turn=turn)) is turn


async def test_a_checked_sends_images_go_to_the_content_check_and_its_verdict_is_stored(
    settings, monkeypatch
):
    asked, stored = [], []

    async def moderate(text, *, images=()):
        asked.append((text, images))
        return llm.ModerationResult(flagged=True, categories=["violence"])

    def do_checked_send(send, content=None):
        stored.append((send, content))
        return "the stored turn"

    monkeypatch.setattr(llm, "moderate", moderate)
    monkeypatch.setattr(services, "_do_checked_send", do_checked_send)
    settings.CHATBOT_MODERATION = "flag"
    checked = services.CheckedSend(
        user=None, text="look", session_id=None, idempotency_key=None, images=(DATA_URL,)
    )
    assert await services.finish_send(checked) == "the stored turn"
    assert asked == [("look", (DATA_URL,))]
    assert stored == [(checked, services.ContentCheck(flagged=True, categories=("violence",)))]


@pytest.mark.parametrize("mode", ["flag", "block"])
@pytest.mark.django_db(transaction=True)
async def test_a_checked_send_is_stored_with_its_verdict(catalogue, settings, monkeypatch, mode):
    asked = []

    async def moderate(text, *, images=()):
        asked.append(text)
        return llm.ModerationResult(flagged=True, categories=["harassment"])

    monkeypatch.setattr(llm, "moderate", moderate)
    settings.CHATBOT_MODERATION = mode

    def setup():
        user = UserFactory()
        session = ChatSessionFactory(user=user, model="second")
        first = message(session, USER, "first")
        message(session, ASSISTANT, "answer")
        second = message(session, USER, "second")
        return user, session, first, second, document(user, "Revenue: 12")

    user, session, _first, second, note = await sync_to_async(setup)()
    checked = await sync_to_async(services.check_send)(
        user=user,
        text="second, edited",
        session_id=session.pk,
        idempotency_key="k-9",
        edit_message_id=second.pk,
        model="main",
        attachments=[str(note.pk)],
    )
    if mode == "block":
        with pytest.raises(MessageBlocked):
            await services.finish_send(checked)
    else:
        turn = await services.finish_send(checked)
        assert turn.reply.model == "main"
    assert asked == ["second, edited"]

    def stored():
        edited = Message.objects.get(session=session, content="second, edited")
        keys = list(IdempotencyKey.objects.values_list("user_id", "key", "user_message_id"))
        links = list(MessageAttachment.objects.values_list("message_id", "file_id"))
        replies = Message.objects.filter(parent=edited).count()
        model = ChatSession.objects.get(pk=session.pk).model
        return edited, keys, links, replies, model

    edited, keys, links, replies, model = await sync_to_async(stored)()
    assert (edited.parent_id, edited.flagged, edited.flag_categories) == (
        second.parent_id,
        True,
        ["harassment"],
    )
    assert keys == [(user.pk, "k-9", edited.pk)]
    assert links == [(edited.pk, note.pk)]
    assert (replies, model) == (0 if mode == "block" else 1, "main")


@pytest.mark.django_db(transaction=True)
async def test_sending_and_regenerating_from_async_code(catalogue, settings):
    def setup():
        user = UserFactory()
        session = ChatSessionFactory(user=user, model="second")
        first = message(session, USER, "first")
        answer = message(session, ASSISTANT, "answer")
        note = document(user, "Revenue: 12")
        return user, session, first, answer, note

    user, session, first, answer, note = await sync_to_async(setup)()
    turn = await services.send_message(
        user=user,
        text="first, edited",
        session_id=session.pk,
        idempotency_key="k-1",
        edit_message_id=first.pk,
        attachments=[str(note.pk)],
    )
    assert turn.user_message.parent_id is None and turn.session.pk == session.pk
    assert turn.user_message.attached_files == [note]
    again = await services.send_message(user=user, text="first, edited", idempotency_key="k-1")
    assert again.replayed is True and again.user_message.pk == turn.user_message.pk
    await Message.objects.filter(pk=turn.reply.pk).aupdate(status=Message.Status.COMPLETE)
    regenerated = await services.regenerate_reply(
        user=user, session_id=session.pk, message_id=answer.pk
    )
    assert regenerated.user_message.pk == first.pk
    assert regenerated.reply.parent_id == first.pk


# --- Copies and imports; sockets ---------------------------------------------------------


def message_inserts(queries) -> int:
    return sum(
        1
        for q in queries
        if q["sql"].startswith("INSERT") and '"conversations_message"' in q["sql"]
    )


def test_copied_messages_are_stored_as_one_branch_the_last_current(world):
    session = ChatSessionFactory(user=world.user)
    copies = [
        Message(session=session, sequence=n, role=USER if n % 2 else ASSISTANT, content=f"m{n}")
        for n in (1, 2, 3)
    ]
    with CaptureQueriesContext(connection) as queries:
        services.store_as_branch(session=session, messages=copies, batch_size=2)
    assert message_inserts(queries.captured_queries) == 2
    assert rows(session) == [
        (1, None, USER, Message.Status.COMPLETE, "m1"),
        (2, copies[0].pk, ASSISTANT, Message.Status.COMPLETE, "m2"),
        (3, copies[1].pk, USER, Message.Status.COMPLETE, "m3"),
    ]
    assert session.current_message == copies[2]
    assert current_id(session) == copies[2].pk
    assert untouched(world) and snapshot(world.session) == world.before


def test_an_imported_tree_makes_the_chosen_message_current(world):
    session = ChatSessionFactory(user=world.user)
    root = Message(session=session, sequence=1, role=USER, content="root")
    left = Message(session=session, sequence=2, role=ASSISTANT, content="left", parent=root)
    right = Message(session=session, sequence=3, role=ASSISTANT, content="right", parent=root)
    with CaptureQueriesContext(connection) as queries:
        services.store_as_tree(session=session, messages=[root, left, right], current=left)
    assert message_inserts(queries.captured_queries) == 1
    assert current_id(session) == left.pk and session.current_message == left
    services.store_as_tree(session=session, messages=[])
    assert current_id(session) == left.pk
    assert untouched(world)


@pytest.mark.parametrize(
    ("ending", "code"),
    [
        ("signed out", events.SIGNED_OUT),
        ("password changed", events.SIGNED_OUT),
        ("deactivated", events.ACCESS_ENDED),
        ("suspended", events.ACCESS_ENDED),
    ],
)
def test_a_users_sockets_close_with_the_code_of_the_ending(published, ending, code):
    services.close_sockets(user_id=7, ending=ending)
    services.close_sockets(user_id=7, ending=ending, session_key="browser-key")
    close = {"type": "chat.close", "code": code, "reason": ending}
    assert published == [
        (7, {**close, "session": None}),
        (7, {**close, "session": events.session_tag("browser-key")}),
    ]


def test_sockets_close_once_the_change_commits(published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.close_sockets_on_commit(user_id=7, ending="suspended")
        assert published == []
    assert published == [
        (7, {"type": "chat.close", "code": 4403, "reason": "suspended", "session": None})
    ]


def test_a_sends_files_are_checked_against_its_conversations_own_model(world, files_dir):
    seer = ChatSessionFactory(user=world.user, model="seer")  # takes images; "main" does not
    photo = image(world.user)
    turn = services.do_send(
        user=world.user, text="look", session_id=seer.pk, attachments=[str(photo.pk)]
    )
    assert turn.user_message.attached_files == [photo]
    assert turn.user_message.token_count == count_tokens("look") + attaching.IMAGE_TOKENS
    assert turn.reply.model == "seer"
