"""Per-user send rate limit and daily token quota, shared by every process via the cache.

DRF's throttles read and then write a request history, which lets concurrent requests slip
through and only works for DRF views; the browser's WebSocket needs the same rule. An atomic
``cache.incr`` on a fixed window (Redis or local memory) is exact across processes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache

from conversations.errors import QuotaExceeded, RateLimited
from usage.budgets import daily_budget_for


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


def _quota_key(user_id: int, day: str) -> str:
    return f"token-quota:{user_id}:{day}"


def _seconds_to_midnight() -> int:
    now = datetime.now(UTC)
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return int((tomorrow - now).total_seconds()) + 1


@dataclass(frozen=True)
class Reservation:
    """Tokens held against one day's quota for a reply until it ends."""

    key: str
    tokens: int


def reserve_tokens(user_id: int, *, prompt_tokens: int) -> Reservation | None:
    """Hold a reply's worst case (its prompt plus ``CHATBOT_MAX_REPLY_TOKENS``) against
    today's budget (``CHATBOT_DAILY_TOKEN_QUOTA`` or the user's groups'), or raise
    ``QuotaExceeded``.

    One atomic ``incr`` both reserves and reads what others hold, so parallel sends in any
    process queue on it. A send is refused when its prompt no longer fits in what is left;
    its reply may then run past the quota by at most its cap.
    """
    quota = daily_budget_for(user_id)  # the user's groups' budget, or the global quota
    if quota <= 0:
        return None
    cap = settings.CHATBOT_MAX_REPLY_TOKENS
    reservation = Reservation(
        key=_quota_key(user_id, datetime.now(UTC).date().isoformat()),
        tokens=prompt_tokens + cap,
    )
    held = _add(reservation.key, reservation.tokens)
    if held - cap > quota:
        _add(reservation.key, -reservation.tokens)
        raise QuotaExceeded(retry_after=_seconds_to_midnight())
    return reservation


def settle_tokens(reservation: Reservation | None, *, spent: int) -> None:
    """Replace a reservation by the tokens its reply really ``spent`` (0 releases it)."""
    if reservation is not None and spent != reservation.tokens:
        _add(reservation.key, spent - reservation.tokens)


def _add(key: str, tokens: int) -> int:
    """Add ``tokens`` (may be negative) to a day's count, kept a little over a day."""
    cache.add(key, 0, timeout=2 * 86400)
    try:
        return cache.incr(key, tokens)
    except ValueError:  # expired between add and incr
        cache.add(key, tokens, timeout=2 * 86400)
        return tokens
