"""The per-user send rate limit: exact boundaries, units, "off" values, separate counters
per user, counters that outlive their window, and Retry-After computed from the clock."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

from chatbot.env import parse_rate
from conversations import limits
from conversations.errors import RateLimited


@pytest.fixture(autouse=True)
def _local_cache(settings):
    """Local memory, whose expiry follows the frozen clock (Redis keeps its own time)."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "limits-tests",
        }
    }
    cache.clear()


def sends_allowed(user_id: int, attempts: int) -> int:
    allowed = 0
    for _ in range(attempts):
        try:
            limits.check_send_rate(user_id)
        except RateLimited:
            continue
        allowed += 1
    return allowed


@pytest.mark.parametrize(
    ("rate", "parsed"),
    [
        ("20/min", (20, 60)),
        (" 3/S ", (3, 1)),
        ("3/sec", (3, 1)),
        ("3/second", (3, 1)),
        ("5/m", (5, 60)),
        ("5/minute", (5, 60)),
        ("7/h", (7, 3600)),
        ("7/hour", (7, 3600)),
        ("9/d", (9, 86400)),
        ("9/day", (9, 86400)),
        ("1/ min", (1, 60)),
    ],
)
def test_rates_parse_to_count_and_seconds(rate, parsed):
    assert parse_rate(rate) == parsed


@pytest.mark.parametrize("rate", ["", "0", "off", "OFF", "none", "  None ", None])
def test_off_values_turn_the_limit_off(rate, settings, frozen_clock):
    assert parse_rate(rate) is None
    settings.CHATBOT_RATE_LIMIT = parse_rate(rate)
    assert sends_allowed(1, 50) == 50


@pytest.mark.parametrize("rate", ["20", "20/fortnight", "x/min", "20/min/2", "/min", "1.5/min"])
def test_malformed_rates_name_the_expected_shape(rate):
    with pytest.raises(ImproperlyConfigured, match="must look like 20/min"):
        parse_rate(rate)


@pytest.mark.parametrize("count", [1, 2, 5])
def test_the_limit_is_reached_but_not_exceeded(settings, frozen_clock, count):
    settings.CHATBOT_RATE_LIMIT = parse_rate(f"{count}/min")
    assert sends_allowed(1, count) == count
    with pytest.raises(RateLimited):
        limits.check_send_rate(1)
    # Refused sends count too; the window still ends on time.
    assert sends_allowed(1, 3) == 0


@pytest.mark.parametrize(
    ("unit", "period"), [("s", 1), ("min", 60), ("hour", 3600), ("day", 86400)]
)
def test_each_unit_is_a_window_of_its_length(settings, frozen_clock, unit, period):
    settings.CHATBOT_RATE_LIMIT = parse_rate(f"2/{unit}")
    assert sends_allowed(1, 3) == 2
    frozen_clock.advance(period - 0.5)
    assert sends_allowed(1, 1) == 0
    frozen_clock.advance(0.5)
    assert sends_allowed(1, 3) == 2


@pytest.mark.parametrize(
    ("unit", "elapsed", "retry_after"),
    [
        ("s", 0.25, 1),
        ("min", 0, 61),
        ("min", 20.25, 40),
        ("min", 59.5, 1),
        ("hour", 3599, 2),
        ("hour", 1000.5, 2600),
        ("day", 3600, 82801),
    ],
)
def test_retry_after_is_the_rest_of_the_window_plus_one_second(
    settings, frozen_clock, unit, elapsed, retry_after
):
    settings.CHATBOT_RATE_LIMIT = parse_rate(f"1/{unit}")
    frozen_clock.advance(elapsed)
    limits.check_send_rate(1)
    with pytest.raises(RateLimited) as refused:
        limits.check_send_rate(1)
    assert refused.value.retry_after == retry_after


def test_each_user_has_their_own_counter(settings, frozen_clock):
    settings.CHATBOT_RATE_LIMIT = parse_rate("2/min")
    assert sends_allowed(1, 3) == 2
    assert sends_allowed(2, 3) == 2
    assert sends_allowed(12, 3) == 2


def test_limits_with_different_periods_count_apart(settings, frozen_clock):
    settings.CHATBOT_RATE_LIMIT = parse_rate("2/min")
    assert sends_allowed(1, 2) == 2
    settings.CHATBOT_RATE_LIMIT = parse_rate("2/hour")
    assert sends_allowed(1, 3) == 2


@pytest.mark.parametrize(("unit", "period"), [("s", 1), ("min", 60), ("day", 86400)])
def test_a_counter_lives_through_its_window_and_five_seconds_more(
    settings, frozen_clock, unit, period
):
    settings.CHATBOT_RATE_LIMIT = parse_rate(f"1/{unit}")
    limits.check_send_rate(1)
    key = f"send-rate:1:{period}:{int(frozen_clock.now // period)}"
    assert cache.get(key) == 1
    frozen_clock.advance(period + 4.999)
    assert cache.get(key) == 1
    frozen_clock.advance(0.001)
    assert cache.get(key) is None


def test_a_counter_that_expires_between_add_and_incr_starts_again_at_one(
    settings, frozen_clock, monkeypatch
):
    settings.CHATBOT_RATE_LIMIT = parse_rate("1/min")
    real_add, expired = cache.add, []

    def add_then_expire(key, value, timeout):
        added = real_add(key, value, timeout=timeout)
        if not expired:
            expired.append(cache.delete(key))
        return added

    with monkeypatch.context() as patch:
        patch.setattr(cache, "add", add_then_expire)
        limits.check_send_rate(1)
    assert expired == [True]
    key = f"send-rate:1:60:{int(frozen_clock.now // 60)}"
    assert cache.get(key) == 1
    frozen_clock.advance(64.999)
    assert cache.get(key) == 1
    frozen_clock.advance(0.001)
    assert cache.get(key) is None
