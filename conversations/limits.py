"""Per-user send rate limit and daily token budget, shared by every process via the cache.

DRF's throttles read and then write a request history, which lets concurrent requests slip
through and only works for DRF views; the browser's WebSocket needs the same rule. An atomic
``cache.incr`` on a fixed window (Redis or local memory) is exact across processes.

Which budgets a user has is not this module's business: the global daily quota, unless an
app (usage, with its group budgets) registers a provider with ``use_budgets``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.core.cache import cache

from conversations.errors import QuotaExceeded, RateLimited


def check_send_rate(user_id: int) -> None:
    """Count one send for ``user_id``; raise ``RateLimited`` when over the limit."""
    limit = settings.CHATBOT_RATE_LIMIT  # a chatbot.env.Rate, parsed at start-up
    if limit is None:
        return
    count, period = limit
    now = time.time()
    window = int(now // period)
    key = f"send-rate:{user_id}:{period}:{window}"
    cache.add(key, 0, timeout=period + 5)
    try:
        used = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=period + 5)
        used = 1
    if used > count:
        raise RateLimited(retry_after=int(period - (now % period)) + 1)


@dataclass(frozen=True)
class Budgets:
    """Tokens one user may spend per UTC day (0: no limit) and per UTC calendar month
    (None: no limit)."""

    daily: int
    monthly: int | None = None


def _global_budgets(user_id: int) -> Budgets:
    return Budgets(daily=settings.CHATBOT_DAILY_TOKEN_QUOTA)


_budgets_for: Callable[[int], Budgets] = _global_budgets


def use_budgets(provider: Callable[[int], Budgets]) -> None:
    """Let ``provider`` say each user's budgets from now on (called once, at start-up)."""
    global _budgets_for
    _budgets_for = provider


@dataclass(frozen=True)
class Reservation:
    """Tokens held against one day's quota for a reply until it ends."""

    key: str
    tokens: int


def reserve_tokens(user_id: int, *, prompt_tokens: int) -> Reservation | None:
    """Hold a reply's worst case (its prompt plus ``CHATBOT_MAX_REPLY_TOKENS``) against
    today's budget, or raise ``QuotaExceeded``.

    One atomic ``incr`` both reserves and reads what others hold, so parallel sends in any
    process queue on it. A send is refused when its prompt no longer fits in what is left;
    its reply may then run past the quota by at most its cap.
    """
    quota = _budgets_for(user_id).daily
    if quota <= 0:
        return None
    now = _now()
    cap = settings.CHATBOT_MAX_REPLY_TOKENS
    reservation = Reservation(key=_quota_key(user_id, now.date()), tokens=prompt_tokens + cap)
    if _add(reservation.key, reservation.tokens) - cap > quota:
        _add(reservation.key, -reservation.tokens)
        raise QuotaExceeded(retry_after=_seconds_until(now.date() + timedelta(days=1), now=now))
    return reservation


def settle_tokens(reservation: Reservation | None, *, spent: int) -> None:
    """Replace a reservation by the tokens its reply really ``spent`` (0 releases it)."""
    if reservation is not None and spent != reservation.tokens:
        _add(reservation.key, spent - reservation.tokens)


def _now() -> datetime:
    """The wall clock, read through ``time.time`` (which tests can stop)."""
    return datetime.fromtimestamp(time.time(), UTC)


def _seconds_until(day: date, *, now: datetime) -> int:
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return int((midnight - now).total_seconds()) + 1


def _quota_key(user_id: int, day: date) -> str:
    return f"token-quota:{user_id}:{day.isoformat()}"


# A day's count outlives it by about a day, for the replies that straddle midnight.
DAY_SECONDS = 2 * 86400


def _add(key: str, tokens: int) -> int:
    """Add ``tokens`` (may be negative) to a count, starting from 0 if it has none."""
    cache.add(key, 0, timeout=DAY_SECONDS)
    try:
        return cache.incr(key, tokens)
    except ValueError:  # expired between add and incr
        cache.add(key, tokens, timeout=DAY_SECONDS)
        return tokens
