"""Limits of one conversation asserted exactly (issue 23): which tokens count towards
``CHATBOT_CONVERSATION_TOKEN_LIMIT`` (every reply of the conversation, on every branch,
nothing of another conversation or user), the limit's edge and "off" values, and the
refusal of ``CHATBOT_SESSION_RATE_LIMIT`` with its seconds from a controlled clock."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.core.cache import cache

from chatbot.env import parse_rate
from conversations import limits, session_limits
from conversations.errors import RateLimited
from conversations.models import Message
from tests.api.conftest import bearer_client
from tests.conftest import FrozenClock
from tests.factories import MessageFactory, UserFactory, conversation

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _local_cache(settings):
    """Local memory, whose expiry follows the frozen clock (Redis keeps its own time)."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "session-limits-tests",
        }
    }
    settings.CHATBOT_RATE_LIMIT = None
    cache.clear()


def replies(session) -> list[Message]:
    return list(Message.objects.filter(session=session, role="assistant").order_by("sequence"))


def with_tokens(message: Message, prompt: int | None, completion: int | None) -> None:
    Message.objects.filter(pk=message.pk).update(prompt_tokens=prompt, completion_tokens=completion)


def test_spent_tokens_are_every_reply_of_the_conversation_on_every_branch():
    user = UserFactory()
    session = conversation(user, turns=2)
    first, second = replies(session)
    with_tokens(first, 10, 5)
    with_tokens(second, None, 7)
    # Another answer to the first question: a branch that is not shown still spent tokens.
    other_branch = MessageFactory(
        session=session, role="assistant", parent=first.parent, make_current=False
    )
    with_tokens(other_branch, 3, None)
    # The user's own messages never count, whatever they hold.
    Message.objects.filter(session=session, role="user").update(
        prompt_tokens=1000, completion_tokens=1000
    )
    # Nor do the replies of another conversation of the same user, or of another user.
    for elsewhere in (conversation(user, turns=1), conversation(UserFactory(), turns=1)):
        with_tokens(replies(elsewhere)[0], 500, 500)

    assert session_limits.tokens_spent(session) == 10 + 5 + 7 + 3


def test_a_conversation_without_replies_has_spent_nothing():
    session = conversation(UserFactory(), turns=0)
    conversation(session.user, turns=1)

    assert session_limits.tokens_spent(session) == 0


def test_a_conversation_whose_replies_report_no_tokens_has_spent_nothing():
    session = conversation(UserFactory(), turns=2)

    assert session_limits.tokens_spent(session) == 0


@pytest.mark.parametrize(("limit", "refused"), [(1, True), (20, True), (21, False), (0, False)])
def test_the_token_limit_refuses_at_the_limit_and_not_below_it_and_zero_is_off(
    settings, limit, refused
):
    settings.CHATBOT_CONVERSATION_TOKEN_LIMIT = limit
    session = conversation(UserFactory(), turns=1)
    with_tokens(replies(session)[0], 12, 8)

    if refused:
        with pytest.raises(session_limits.ConversationTooLong) as error:
            session_limits.check_conversation_limits(session)
        assert (error.value.status_code, error.value.code) == (409, "conversation_limit")
        assert str(error.value) == (
            "This conversation has reached its length limit; start a new one."
        )
    else:
        session_limits.check_conversation_limits(session)


def test_a_new_conversation_passes_a_limit_of_one():
    """Nothing spent yet is below any limit."""
    session = conversation(UserFactory(), turns=0)

    session_limits.check_conversation_tokens(session)


@pytest.mark.parametrize(
    ("unit", "elapsed", "retry_after"), [("min", 0, 61), ("min", 20.25, 40), ("hour", 1000.5, 2600)]
)
def test_the_rate_refuses_past_the_count_with_the_rest_of_the_window(
    settings, frozen_clock, unit, elapsed, retry_after
):
    settings.CHATBOT_SESSION_RATE_LIMIT = parse_rate(f"2/{unit}")
    session = conversation(UserFactory(), turns=0)
    frozen_clock.advance(elapsed)
    session_limits.check_conversation_limits(session)
    session_limits.check_conversation_limits(session)

    with pytest.raises(session_limits.ConversationRateLimited) as error:
        session_limits.check_conversation_limits(session)

    detail = (
        "You are sending messages too quickly in this conversation. "
        f"Try again in {retry_after} seconds."
    )
    assert isinstance(error.value, RateLimited)
    assert (error.value.status_code, error.value.code) == (429, "conversation_rate_limited")
    assert (error.value.retry_after, error.value.detail, str(error.value)) == (
        retry_after,
        detail,
        detail,
    )


def test_each_conversation_has_its_own_rate_counter(settings, frozen_clock):
    settings.CHATBOT_SESSION_RATE_LIMIT = parse_rate("1/min")
    user = UserFactory()
    first, second = conversation(user, turns=0), conversation(user, turns=0)
    session_limits.check_conversation_rate(first.pk)

    session_limits.check_conversation_rate(second.pk)
    with pytest.raises(session_limits.ConversationRateLimited):
        session_limits.check_conversation_rate(first.pk)
    # The per-user counter is another one: the conversation's did not spend it.
    assert cache.get(f"session-rate:{first.pk}:60:{int(frozen_clock.now // 60)}") == 2


def test_without_a_rate_every_send_to_a_conversation_passes(settings, frozen_clock):
    settings.CHATBOT_SESSION_RATE_LIMIT = None
    session = conversation(UserFactory(), turns=0)

    for _ in range(50):
        session_limits.check_conversation_limits(session)


@pytest.mark.django_db(transaction=True)
def test_the_api_refuses_past_the_rate_with_the_exact_wait(upstream, settings, monkeypatch):
    settings.CHATBOT_SESSION_RATE_LIMIT = parse_rate("1/hour")
    # The limits' clock only: signing in reads the real one.
    clock = FrozenClock(float(20_000 * 86_400 + 600))
    monkeypatch.setattr(limits, "time", SimpleNamespace(time=clock))
    user = UserFactory()
    api = bearer_client(user)
    sent = api.post("/api/chat", {"message": "first", "stream": False}, "application/json")
    session_id = sent.json()["sessionId"]

    refused = api.post(
        "/api/chat",
        {"message": "second", "sessionId": session_id, "stream": False},
        "application/json",
    )

    assert refused.status_code == 429
    assert refused["Retry-After"] == "3001"
    assert refused.json()["detail"] == (
        "You are sending messages too quickly in this conversation. Try again in 3001 seconds."
    )
    assert Message.objects.filter(session_id=session_id).count() == 2
