"""Per-user send rate limit and token budgets (a UTC day's and a UTC calendar month's),
shared by every process via the cache.

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
from django.db.models import Case, Q, Sum, When
from django.db.models.functions import Coalesce

from chatbot.env import Rate
from conversations.errors import BudgetExceeded, QuotaExceeded, RateLimited
from conversations.models import Message


def check_send_rate(user_id: int) -> None:
    """Count one send for ``user_id``; raise ``RateLimited`` when over the limit."""
    check_rate(f"send-rate:{user_id}", limit=settings.CHATBOT_RATE_LIMIT)


def check_rate(scope: str, *, limit: Rate | None, error: type[RateLimited] = RateLimited) -> None:
    """Count one send against ``scope`` (a user, a conversation) in the current fixed window
    of ``limit``, atomically across processes; raise ``error`` with the seconds left in the
    window when over the limit. ``limit`` is a setting parsed at start-up; None is off."""
    if limit is None:
        return
    count, period = limit
    now = time.time()
    window = int(now // period)
    key = f"{scope}:{period}:{window}"
    cache.add(key, 0, timeout=period + 5)
    try:
        used = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=period + 5)
        used = 1
    if used > count:
        raise error(retry_after=int(period - (now % period)) + 1)


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
    """Tokens held against a day's and a month's counts for a reply until it ends."""

    keys: tuple[str, ...]
    tokens: int


def reserve_tokens(user_id: int, *, prompt_tokens: int) -> Reservation | None:
    """Hold a reply's worst case (its prompt plus ``CHATBOT_MAX_REPLY_TOKENS``) against the
    user's monthly budget and today's, or raise ``BudgetExceeded`` or ``QuotaExceeded``.

    One atomic ``incr`` per budget both reserves and reads what others hold, so parallel
    sends in any process queue on it. A send is refused when its prompt no longer fits in
    what is left; its reply may then run past the budget by at most its cap. The month
    comes first: when it is spent, the refusal names the later of the two renewals.
    """
    budgets = _budgets_for(user_id)
    if budgets.daily <= 0 and not budgets.monthly:
        return None
    now = _now()
    cap = settings.CHATBOT_MAX_REPLY_TOKENS
    tokens = prompt_tokens + cap
    held: list[str] = []
    if budgets.monthly:
        month = now.date().replace(day=1)
        key = _month_key(user_id, month)
        if _add_to_month(key, tokens, user_id=user_id, month=month) - cap > budgets.monthly:
            _add(key, -tokens)
            renews = _next_month(month)
            raise BudgetExceeded(retry_after=_seconds_until(renews, now=now), renews=renews)
        held.append(key)
    if budgets.daily > 0:
        key = _quota_key(user_id, now.date())
        if _add(key, tokens) - cap > budgets.daily:
            for spent in (key, *held):
                _add(spent, -tokens)
            raise QuotaExceeded(retry_after=_seconds_until(now.date() + timedelta(days=1), now=now))
        held.append(key)
    return Reservation(keys=tuple(held), tokens=tokens)


def settle_tokens(reservation: Reservation | None, *, spent: int) -> None:
    """Replace a reservation by the tokens its reply really ``spent`` (0 releases it)."""
    if reservation is not None and spent != reservation.tokens:
        for key in reservation.keys:
            _add(key, spent - reservation.tokens)


def _now() -> datetime:
    """The wall clock, read through ``time.time`` (which tests can stop)."""
    return datetime.fromtimestamp(time.time(), UTC)


def _seconds_until(day: date, *, now: datetime) -> int:
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return int((midnight - now).total_seconds()) + 1


def _next_month(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1)


def _quota_key(user_id: int, day: date) -> str:
    return f"token-quota:{user_id}:{day.isoformat()}"


def _month_key(user_id: int, month: date) -> str:
    return f"token-month:{user_id}:{month:%Y-%m}"


# Counts outlive their period by about a day, for the replies that straddle its end.
DAY_SECONDS = 2 * 86400
MONTH_SECONDS = 32 * 86400


def _add(key: str, tokens: int) -> int:
    """Add ``tokens`` (may be negative) to a count, starting from 0 if it has none."""
    timeout = MONTH_SECONDS if key.startswith("token-month:") else DAY_SECONDS
    cache.add(key, 0, timeout=timeout)
    try:
        return cache.incr(key, tokens)
    except ValueError:  # expired between add and incr
        cache.add(key, tokens, timeout=timeout)
        return tokens


def _add_to_month(key: str, tokens: int, *, user_id: int, month: date) -> int:
    """Add ``tokens`` to a month's count; a missing count (a new month, a first monthly
    budget, a restarted cache) starts from the month's stored replies."""
    try:
        return cache.incr(key, tokens)
    except ValueError:
        cache.add(key, _spent_since(user_id, month), timeout=MONTH_SECONDS)
        return _add(key, tokens)


def _spent_since(user_id: int, month: date) -> int:
    """Tokens the user's replies spent since the start of ``month``, as ``settle_tokens``
    counts them (the upstream's figures, else the reply's own count)."""
    unreported = (Q(prompt_tokens__isnull=True) | Q(prompt_tokens=0)) & (
        Q(completion_tokens__isnull=True) | Q(completion_tokens=0)
    )
    spent = Case(
        When(unreported, then="token_count"),
        default=Coalesce("prompt_tokens", 0) + Coalesce("completion_tokens", 0),
    )
    replies = Message.objects.filter(
        session__user_id=user_id,
        role=Message.Role.ASSISTANT,
        created_at__gte=datetime(month.year, month.month, 1, tzinfo=UTC),
    )
    return replies.aggregate(spent=Coalesce(Sum(spent), 0))["spent"]
