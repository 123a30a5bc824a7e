"""The daily token quota as the services hold it: a send or regenerate reserves its worst
case before the model is called, a refusal stores and holds nothing, and the end of a reply
settles the reservation to what was really spent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.cache import cache

from conversations import reply_storage, services
from conversations.errors import QuotaExceeded
from conversations.models import Message
from tests.factories import conversation

CAP = 50


@pytest.fixture
def quota(settings):
    settings.CHATBOT_RATE_LIMIT = None
    settings.CHATBOT_MAX_REPLY_TOKENS = CAP
    settings.CHATBOT_DAILY_TOKEN_QUOTA = 1000
    return settings


def held(user) -> int:
    return cache.get(f"token-quota:{user.pk}:{datetime.now(UTC).date().isoformat()}", 0)


def test_a_send_holds_its_prompt_and_the_reply_cap_until_the_reply_ends(user, quota):
    turn = services.do_send(user=user, text="hello there")

    assert held(user) == turn.context.prompt_tokens + CAP

    reply_storage.finish_reply(
        reply=turn.reply,
        content="hi",
        status=Message.Status.COMPLETE,
        prompt_tokens=12,
        completion_tokens=3,
        reservation=turn.reservation,
    )
    assert held(user) == 15


def test_a_failed_reply_without_usage_is_settled_to_its_text(user, quota):
    turn = services.do_send(user=user, text="hello there")

    reply_storage.finish_reply(
        reply=turn.reply,
        content="partial answer",
        status=Message.Status.FAILED,
        reservation=turn.reservation,
    )

    assert held(user) == turn.reply.token_count > 0


def test_a_send_whose_prompt_does_not_fit_is_refused_and_holds_nothing(user, quota):
    quota.CHATBOT_DAILY_TOKEN_QUOTA = 10  # less than any prompt with the system prompt

    with pytest.raises(QuotaExceeded) as refused:
        services.do_send(user=user, text="hello there")

    assert refused.value.retry_after >= 1
    assert held(user) == 0
    assert not Message.objects.filter(session__user=user).exists()


def test_a_reply_may_pass_the_quota_by_at_most_its_cap(user, quota):
    first = services.do_send(user=user, text="first")
    quota.CHATBOT_DAILY_TOKEN_QUOTA = held(user) + first.context.prompt_tokens

    services.do_send(user=user, text="first")  # its prompt still fits

    with pytest.raises(QuotaExceeded):
        services.do_send(user=user, text="first")
    assert held(user) == 2 * (first.context.prompt_tokens + CAP)


def test_regenerate_reserves_and_is_refused_like_a_send(user, quota):
    session = conversation(user, turns=1)
    turn = services.do_regenerate(user=user, session_id=session.pk)
    assert held(user) == turn.context.prompt_tokens + CAP
    reply_storage.finish_reply(
        reply=turn.reply,
        content="again",
        status=Message.Status.COMPLETE,
        prompt_tokens=20,
        completion_tokens=1,
        reservation=turn.reservation,
    )
    quota.CHATBOT_DAILY_TOKEN_QUOTA = 21

    with pytest.raises(QuotaExceeded):
        services.do_regenerate(user=user, session_id=session.pk)

    assert held(user) == 21
    # Nothing stored for the refused one: the first answer and the regenerated one remain.
    assert list(session.messages.filter(role="assistant").values_list("content", flat=True)) == [
        "answer 0",
        "again",
    ]


def test_a_reply_of_a_deleted_conversation_still_settles(user, quota):
    turn = services.do_send(user=user, text="hello there")
    services.delete_session(user=user, session_id=turn.session.pk)

    finished = reply_storage.finish_reply(
        reply=turn.reply,
        content="late",
        status=Message.Status.COMPLETE,
        prompt_tokens=7,
        completion_tokens=1,
        reservation=turn.reservation,
    )

    assert finished is None
    assert held(user) == 8
