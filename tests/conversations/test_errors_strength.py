"""The chat's domain errors carry what the transports show (issue 23): the seconds to wait,
never below one, and each refusal's exact sentence."""

from __future__ import annotations

from datetime import date

import pytest

from conversations.errors import BudgetExceeded, QuotaExceeded, RateLimited
from core.errors import ChatError, InvalidInput, StorageUnavailable


@pytest.mark.parametrize(("given", "retry_after"), [(-5, 1), (0, 1), (0.9, 1), (1, 1), (2.9, 2)])
def test_the_wait_is_whole_seconds_and_at_least_one(given, retry_after):
    assert RateLimited(given).retry_after == retry_after
    assert QuotaExceeded(given).retry_after == retry_after
    assert BudgetExceeded(given, renews=date(2026, 12, 1)).retry_after == retry_after


def test_a_rate_limit_says_how_long_to_wait():
    error = RateLimited(42)

    assert (error.status_code, error.code) == (429, "rate_limited")
    assert (
        error.detail
        == str(error)
        == "You are sending messages too quickly. Try again in 42 seconds."
    )


def test_a_spent_quota_says_when_it_resets_unless_told_otherwise():
    error = QuotaExceeded(60)
    told = QuotaExceeded(60, "Your group's allowance is spent.")

    assert (error.status_code, error.code) == (429, "quota_exceeded")
    assert (
        error.detail
        == str(error)
        == ("You have used today's token allowance. It resets at midnight UTC.")
    )
    assert told.detail == str(told) == "Your group's allowance is spent."


def test_a_spent_budget_names_the_day_it_renews():
    error = BudgetExceeded(3600, renews=date(2027, 1, 1))

    assert (error.status_code, error.code) == (429, "budget_exceeded")
    assert isinstance(error, QuotaExceeded)
    assert (error.retry_after, error.detail, str(error)) == (
        3600,
        "You have used this month's token budget. It renews on 2027-01-01 at 00:00 UTC.",
        "You have used this month's token budget. It renews on 2027-01-01 at 00:00 UTC.",
    )


def test_a_chat_error_carries_its_sentence_and_field_or_its_defaults():
    given = InvalidInput("Say something.", field="message")
    default = StorageUnavailable()

    assert (given.detail, str(given), given.field) == (
        "Say something.",
        "Say something.",
        "message",
    )
    assert (default.detail, str(default), default.field) == (
        "The service is temporarily unavailable. Please try again in a moment.",
        "The service is temporarily unavailable. Please try again in a moment.",
        None,
    )
    assert ChatError("").detail == "The request could not be completed."
