"""Reading settings from the environment: each helper validates its variable, so a bad value
stops the start with ``ImproperlyConfigured`` naming the variable, never a request later."""

from __future__ import annotations

import os
from typing import NamedTuple
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}
RATE_OFF_WORDS = {"", "0", "off", "none"}
RATE_PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}


class Rate(NamedTuple):
    """``count`` events per ``period`` seconds."""

    # Shadows tuple.count, which nothing here calls; the name reads as the rate's own word.
    count: int  # type: ignore[assignment]
    period: int


def parse_rate(rate: str | None) -> Rate | None:
    """``"20/min"`` -> ``Rate(20, 60)``; empty, ``"0"``, ``off`` or ``none`` turn it off."""
    rate = (rate or "").strip().lower()
    if rate in RATE_OFF_WORDS:
        return None
    try:
        count, period = rate.split("/")
        return Rate(int(count), RATE_PERIODS[period.strip()])
    except (ValueError, KeyError) as exc:
        raise ImproperlyConfigured(f"Rate {rate!r} must look like 20/min") from exc


def _raw(name: str) -> str:
    return os.environ.get(name, "").strip()


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name).lower()
    if not value:
        return default
    if value not in TRUE_WORDS | FALSE_WORDS:
        raise ImproperlyConfigured(f"{name} must be 1 or 0 (true/false, yes/no, on/off).")
    return value in TRUE_WORDS


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    try:
        number = int(value) if value else default
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}")
    return number


def env_float(
    name: str, default: float, *, minimum: float | None = None, positive: bool = False
) -> float:
    value = _raw(name)
    try:
        number = float(value) if value else default
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from exc
    if number != number or number in (float("inf"), float("-inf")):
        raise ImproperlyConfigured(f"{name} must be a finite number, got {value!r}")
    if positive and number <= 0:
        raise ImproperlyConfigured(f"{name} must be a positive number, got {number}")
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}")
    return number


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of ``choices``, spelled in any case."""
    value = _raw(name) or default
    by_lower = {choice.lower(): choice for choice in choices}
    if value.lower() not in by_lower:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return by_lower[value.lower()]


def env_rate(name: str, default: str) -> Rate | None:
    """A rate such as ``20/min`` (``0`` or ``off``: no limit), parsed once at start-up."""
    try:
        return parse_rate(os.environ.get(name, default))
    except ImproperlyConfigured as exc:
        raise ImproperlyConfigured(f"{name}: {exc}") from None


def env_url(name: str, schemes: tuple[str, ...]) -> str:
    """A URL with one of ``schemes`` and a host (or a path, for ``unix``); empty is allowed."""
    value = _raw(name)
    if not value:
        return ""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in schemes or not (parts.netloc or parts.path):
        raise ImproperlyConfigured(f"{name} must be a {' or '.join(schemes)} URL, got {value!r}")
    return value


def env_database_url(name: str, default: str) -> str:
    """A database URL that dj-database-url understands."""
    value = _raw(name) or default
    try:
        dj_database_url.parse(value)
    except (ValueError, KeyError) as exc:
        raise ImproperlyConfigured(f"{name} is not a database URL dj-database-url knows") from exc
    return value
