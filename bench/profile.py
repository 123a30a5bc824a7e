"""Profile the app under one benchmark load with py-spy, and print where its CPU goes.

    .venv/bin/python -m bench.profile json       # plain JSON sends, instant upstream
    .venv/bin/python -m bench.profile sse        # 20 streams of 1,000 tokens (scenario 3)
    .venv/bin/python -m bench.profile ttft       # 50 streams, scenario 1's upstream
    .venv/bin/python -m bench.profile ws         # the same over the browser's WebSocket

Needs ``py-spy`` (``pip install py-spy``; not a project requirement) and permission to
trace a child process. Writes the collapsed stacks to bench/results/profile-<load>.txt
(open them in speedscope.app or flamegraph.pl) and prints the top functions by own time
and by inclusive time.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench import clients
from bench.__main__ import RESULTS, expected_text, rounds
from bench.procs import App, Upstream


async def load(kind: str, app: App, upstream: Upstream, users: list[dict], seconds: float):
    if kind == "json":
        upstream.configure(content="a short instant answer")
        deadline = time.perf_counter() + seconds
        count = 0

        async def worker(i: int) -> None:
            nonlocal count
            while time.perf_counter() < deadline:
                await clients.app_json(http, app.url, users[i]["token"], f"hi {i}")
                count += 1

        async with clients.http_client(10) as http:
            await asyncio.gather(*(worker(i) for i in range(10)))
        return f"{count} sends"
    if kind == "sse":
        upstream.configure(tokens=1000)
        concurrency = 20
    else:
        upstream.configure(first_token_delay=0.2, tokens=100, token_gap=0.01)
        concurrency = 50
    expected = expected_text(1000 if kind == "sse" else 100)
    done = bad = 0
    deadline = time.perf_counter() + seconds
    tabs = [clients.Tab(app.url, users[i]["cookie"]) for i in range(concurrency)]
    async with clients.http_client(concurrency) as http:

        def one(i: int):
            if kind == "ws":
                return tabs[i].send("x")
            return clients.app_sse(http, app.url, users[i]["token"], "x")

        while time.perf_counter() < deadline:
            streams = await rounds(one, concurrency, 1)
            done += len(streams)
            bad += sum(1 for s in streams if s.text != expected)
    for tab in tabs:
        await tab.close()
    return f"{done} streams, {bad} incomplete"


def summarize(path, top: int) -> None:
    own: collections.Counter = collections.Counter()
    inclusive: collections.Counter = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        samples = int(count)
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    print(f"\n{total} samples\n\nOwn time:")
    for frame, samples in own.most_common(top):
        print(f"{samples / total:6.1%}  {frame}")
    print("\nInclusive time:")
    for frame, samples in inclusive.most_common(top * 2):
        print(f"{samples / total:6.1%}  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("load", choices=["json", "sse", "ttft", "ws"])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--database", default=None, help="a PostgreSQL URL (default SQLite)")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        raise SystemExit("py-spy is not installed: pip install py-spy")
    upstream = Upstream()
    app = App(upstream=upstream, database_url=args.database)
    out = RESULTS / f"profile-{args.load}.txt"
    RESULTS.mkdir(parents=True, exist_ok=True)
    try:
        data = app.prepare(users=50, big=False)
        app.start()
        # Warm up: first requests import and compile what later ones reuse.
        asyncio.run(load(args.load, app, upstream, data["users"], 2))
        recorder = subprocess.Popen(
            [
                *(spy, "record", "--pid", str(app.proc.pid), "--format", "raw", "--output"),
                *(str(out), "--rate", "200", "--gil", "--nonblocking"),
                *("--duration", str(int(args.seconds) + 1)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1)
        print(asyncio.run(load(args.load, app, upstream, data["users"], args.seconds)))
        recorder.wait(60)
    finally:
        app.stop()
        upstream.stop()
    summarize(out, args.top)


if __name__ == "__main__":
    main()
