"""Lifespan startup prepares the process for long-lived streams."""

from __future__ import annotations

import gc

import pytest

from conversations.lifespan import GC_THRESHOLDS, LifespanMiddleware


class Started(Exception):
    """Raised by the test's send to stop the lifespan loop once startup is complete."""


async def test_startup_freezes_what_is_loaded_and_raises_the_collector_thresholds():
    before = gc.get_threshold()

    async def receive():
        return {"type": "lifespan.startup"}

    async def send(message):
        assert message == {"type": "lifespan.startup.complete"}
        raise Started

    try:
        with pytest.raises(Started):
            await LifespanMiddleware(app=None)({"type": "lifespan"}, receive, send)
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 10_000  # Django and everything imported so far
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
