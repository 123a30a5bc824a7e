"""The database threads of ``conversations.db`` (issue 23): calls run there with their
arguments; a connection that died (its backend ended, as in a database restart) is found
before use at most once a second, or dropped after the call it failed, so the next call
reconnects; a live connection is kept, even after a query error; shutdown closes every
thread's connection. The dying connections need PostgreSQL: SQLite's never die."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace

import pytest
from django.db import OperationalError, ProgrammingError, connection, connections

from conversations import db

pytestmark = pytest.mark.django_db(transaction=True)


class Clock:
    """``time.monotonic`` of the database threads, moved by the test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    """A stopped clock and no health check made yet on any thread."""
    stopped = Clock(1000.0)
    monkeypatch.setattr(db, "time", SimpleNamespace(monotonic=stopped))
    monkeypatch.setattr(db, "_checked", threading.local())
    return stopped


def on_every_thread(fn) -> list:
    """``fn``'s result (or exception) on each database thread, through ``run_db``."""
    barrier = threading.Barrier(db.THREADS)

    def task():
        try:
            return fn()
        finally:
            # Each thread takes exactly one task: none finishes before all have started.
            barrier.wait(timeout=10)

    async def gather():
        return await asyncio.gather(
            *(db.run_db(task) for _ in range(db.THREADS)), return_exceptions=True
        )

    return asyncio.run(gather())


def backend_pid() -> int:
    with connections["default"].cursor() as cursor:
        cursor.execute("select pg_backend_pid()")
        return cursor.fetchone()[0]


def end_backends(pids: list[int]) -> None:
    """End the database threads' server processes, as a database restart does."""
    with connection.cursor() as cursor:
        cursor.execute("select pg_terminate_backend(pid) from unnest(%s) as pid", [pids])
        for _ in range(100):
            cursor.execute("select count(*) from pg_stat_activity where pid = any(%s)", [pids])
            if cursor.fetchone()[0] == 0:
                return
            asyncio.run(asyncio.sleep(0.05))
    raise AssertionError("the backends did not end")


def test_a_call_runs_on_a_database_thread_with_its_arguments_and_returns_its_result():
    def call(first, second, *, third):
        return threading.current_thread().name, first, second, third

    thread, *values = asyncio.run(db.run_db(call, 1, "two", third=[3]))

    assert thread.startswith("chat-db")
    assert values == [1, "two", [3]]


def test_an_exception_of_the_call_reaches_the_caller():
    def fail():
        raise LookupError("missing")

    with pytest.raises(LookupError, match="missing"):
        asyncio.run(db.run_db(fail))


def test_shutdown_closes_the_connection_of_every_thread():
    on_every_thread(lambda: connections["default"].ensure_connection())
    assert (
        on_every_thread(lambda: connections["default"].connection is not None)
        == [True] * db.THREADS
    )

    db.close_connections()

    assert on_every_thread(lambda: connections["default"].connection is None) == [True] * db.THREADS


@pytest.mark.postgres_only
def test_a_dead_connection_is_replaced_before_use_a_second_after_the_last_check(clock):
    before = on_every_thread(backend_pid)
    end_backends(before)
    clock.now += db.HEALTH_CHECK_SECONDS

    after = on_every_thread(backend_pid)

    assert all(isinstance(pid, int) for pid in after), after
    assert set(after).isdisjoint(before)


@pytest.mark.postgres_only
def test_a_thread_first_checks_its_connection_on_its_first_call(clock, monkeypatch):
    on_every_thread(backend_pid)
    end_backends(on_every_thread(backend_pid))
    # Half a second past the interval since a clock's zero: a thread that never checked.
    clock.now = 0.5 + db.HEALTH_CHECK_SECONDS
    monkeypatch.setattr(db, "_checked", threading.local())

    assert all(isinstance(pid, int) for pid in on_every_thread(backend_pid))


@pytest.mark.postgres_only
def test_within_a_second_a_dead_connection_fails_one_call_and_the_next_reconnects(clock):
    before = on_every_thread(backend_pid)
    end_backends(before)
    clock.now += 0.5

    failed = on_every_thread(backend_pid)
    clock.now += 0.1
    after = on_every_thread(backend_pid)

    assert all(isinstance(error, OperationalError) for error in failed), failed
    assert all(isinstance(pid, int) for pid in after), after
    assert set(after).isdisjoint(before)
    # The failure was dealt with: nothing is left to check on the next call.
    assert on_every_thread(lambda: connections["default"].errors_occurred) == [False] * db.THREADS


@pytest.mark.postgres_only
def test_a_query_error_keeps_a_live_connection(clock):
    before = on_every_thread(backend_pid)

    def bad_query():
        with connections["default"].cursor() as cursor:
            cursor.execute("select no_such_column")

    errors = on_every_thread(bad_query)
    clock.now += 0.5
    after = on_every_thread(backend_pid)

    assert all(isinstance(error, ProgrammingError) for error in errors), errors
    assert sorted(after) == sorted(before)
    assert on_every_thread(lambda: connections["default"].errors_occurred) == [False] * db.THREADS


@pytest.mark.postgres_only
def test_a_live_connection_is_kept_across_checks(clock):
    before = on_every_thread(backend_pid)

    for _ in range(3):
        clock.now += 5
        assert sorted(on_every_thread(backend_pid)) == sorted(before)


@pytest.mark.postgres_only
def test_a_closed_connection_is_reopened_without_a_check(clock):
    before = on_every_thread(backend_pid)
    db.close_connections()
    clock.now += 5

    after = on_every_thread(backend_pid)

    assert all(isinstance(pid, int) for pid in after), after
    assert set(after).isdisjoint(before)


class RecordingBarrier(threading.Barrier):
    """A barrier that keeps how many parties it was made for and each wait's time limit."""

    made: list[RecordingBarrier] = []

    def __init__(self, parties, *args, **kwargs) -> None:
        self.asked_parties, self.limits = parties, []
        RecordingBarrier.made.append(self)
        super().__init__(parties, *args, **kwargs)

    def wait(self, timeout=None):
        self.limits.append(timeout)
        return super().wait(timeout)


def test_shutdown_waits_at_most_15_s_for_the_threads_and_each_at_most_10_s_for_the_others(
    monkeypatch,
):
    # A thread stuck in a call at shutdown must neither hold up the process for ever nor
    # leave the other threads waiting for it at the barrier for ever: both waits are
    # bounded, which the functions given them show (no thread is stuck here).
    monkeypatch.setattr(RecordingBarrier, "made", [])
    monkeypatch.setattr(db, "threading", SimpleNamespace(Barrier=RecordingBarrier))
    limits = []

    def recording_wait(futures, timeout=None):
        limits.append(timeout)
        return real_wait(futures, timeout=timeout)

    real_wait = db.wait
    monkeypatch.setattr(db, "wait", recording_wait)
    on_every_thread(lambda: connections["default"].ensure_connection())

    db.close_connections()

    (barrier,) = RecordingBarrier.made
    assert barrier.asked_parties == db.THREADS
    assert barrier.limits == [10] * db.THREADS
    assert limits == [15]
    assert on_every_thread(lambda: connections["default"].connection is None) == [True] * db.THREADS


def test_a_call_on_a_live_connection_within_a_second_of_its_check_pings_nothing(clock):
    on_every_thread(lambda: connections["default"].ensure_connection())
    pings = []

    def count_pings():
        conn = connections["default"]
        usable = conn.is_usable

        def is_usable():
            pings.append(threading.current_thread().name)
            return usable()

        conn.is_usable = is_usable

    try:
        on_every_thread(count_pings)
        clock.now += db.HEALTH_CHECK_SECONDS / 2
        on_every_thread(lambda: connections["default"].ensure_connection())
        assert pings == []

        clock.now += db.HEALTH_CHECK_SECONDS / 2
        on_every_thread(lambda: connections["default"].ensure_connection())
        assert len(pings) == len(set(pings)) == db.THREADS
    finally:
        on_every_thread(lambda: vars(connections["default"]).pop("is_usable", None))
