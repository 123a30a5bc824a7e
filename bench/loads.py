"""Load shapes, and the app's CPU per chat measured over a load.

Shapes (``docs/performance.md``):
- *even*: ``concurrency`` clients, started ``spread / concurrency`` apart, each sending its
  chats back to back (with ``spread`` the length of one stream, starts are even);
- *ramped*: the same with the clients started over 2 s, then back to back (issue 22);
- *poisson*: open-loop arrivals at a given rate, each chat its own client, from a seeded
  generator so that the app and the direct call get the same arrival times.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bench.procs import App, cpu_seconds

RAMP_SECONDS = 2.0

Make = Callable[[int], Awaitable]


async def staggered(make: Make, concurrency: int, per_client: int, spread: float) -> list:
    """``concurrency`` clients started ``spread / concurrency`` apart, each sending
    ``per_client`` chats back to back."""

    async def client(i: int) -> list:
        await asyncio.sleep(i * spread / concurrency)
        return [await make(i) for _ in range(per_client)]

    per = await asyncio.gather(*(client(i) for i in range(concurrency)))
    return [stream for streams in per for stream in streams]


def arrival_times(*, rate: float, seconds: float, seed: int = 22) -> list[float]:
    """Poisson arrivals: exponential gaps of mean ``1 / rate`` until ``seconds``."""
    generator = random.Random(seed)
    times, now = [], 0.0
    while True:
        now += generator.expovariate(rate)
        if now >= seconds:
            return times
        times.append(now)


async def poisson(make: Make, *, rate: float, seconds: float, clients: int) -> list:
    """One chat per arrival; client ``k % clients`` sends the k-th."""

    async def one(k: int, at: float, start: float):
        await asyncio.sleep(max(0.0, start + at - time.perf_counter()))
        return await make(k % clients)

    start = time.perf_counter()
    times = arrival_times(rate=rate, seconds=seconds)
    return list(await asyncio.gather(*(one(k, at, start) for k, at in enumerate(times))))


@dataclass
class Measured:
    """A load's streams, its wall time, and the app's CPU over it (idle excluded)."""

    streams: list
    wall: float
    cpu_seconds: float
    completed: int

    @property
    def cpu_ms_per_chat(self) -> float:
        return self.cpu_seconds * 1000 / self.completed if self.completed else float("nan")

    @property
    def chats_per_second(self) -> float:
        return self.completed / self.wall if self.wall else float("nan")


async def idle_rate(app: App, seconds: float = 0.5) -> float:
    """The app's CPU seconds per second with no load (timers, the saver's tick)."""
    before = cpu_seconds(app.pids())
    await asyncio.sleep(seconds)
    return (cpu_seconds(app.pids()) - before) / seconds


# A new chat's title is asked for after its reply, and the upstream answers it, without
# streaming, only after its whole reply time (0.2 s, then 100 tokens 10 ms apart): the app
# waits quietly for up to that long with work still to do.
QUIET_SECONDS = 1.5


async def settle(
    app: App, idle: float, *, step: float = 0.25, quiet_for: float = QUIET_SECONDS,
    longest: float = 10.0,
) -> None:  # fmt: skip
    """Wait until the app's work for the load is over: ``quiet_for`` seconds without work
    in a row (with 0.5 s, the last titles of a run could be left out), at most
    ``longest`` seconds."""
    quiet, waited = 0.0, 0.0
    previous = cpu_seconds(app.pids())
    while quiet < quiet_for and waited < longest:
        await asyncio.sleep(step)
        waited += step
        now = cpu_seconds(app.pids())
        quiet = quiet + step if now - previous <= idle * step + 0.003 else 0.0
        previous = now


async def measured(
    app: App,
    load: Callable[[], Awaitable[list]],
    *,
    ok: Callable[[object], bool],
    idle: float | None = None,
) -> Measured:
    """Run ``load`` and charge the app's CPU, from its start until the app is quiet again
    (minus what the app spends idle in that time, ``idle`` or measured for 0.5 s first),
    to the chats that completed."""
    if idle is None:
        idle = await idle_rate(app)
    before = cpu_seconds(app.pids())
    start = time.perf_counter()
    streams = await load()
    wall = time.perf_counter() - start
    await settle(app, idle)
    elapsed = time.perf_counter() - start
    cpu = cpu_seconds(app.pids()) - before - idle * elapsed
    return Measured(
        streams=streams,
        wall=wall,
        cpu_seconds=max(cpu, 0.0),
        completed=sum(1 for s in streams if ok(s)),
    )
