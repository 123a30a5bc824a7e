"""Recorders of deterministic costs: hops to a thread, and trips to the database threads."""

from __future__ import annotations

from asgiref.sync import SyncToAsync

from conversations import db


def _name(fn) -> str:
    return getattr(fn, "__qualname__", repr(fn))


def record_thread_hops(monkeypatch) -> list[str]:
    """From now until ``monkeypatch.undo()``, the function of every ``sync_to_async`` call."""
    hops: list[str] = []
    original = SyncToAsync.__call__

    def counting(self, *args, **kwargs):
        hops.append(_name(self.func))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", counting)
    return hops


def record_db_trips(monkeypatch) -> list[str]:
    """From now until ``monkeypatch.undo()``, the function of every ``run_db`` call."""
    trips: list[str] = []
    original = db._call

    def recording(fn, args, kwargs):
        trips.append(_name(fn))
        return original(fn, args, kwargs)

    monkeypatch.setattr(db, "_call", recording)
    return trips
