"""Profile the app under one benchmark load with py-spy, and print where its CPU goes.

    .venv/bin/python -m bench.profile json       # plain JSON sends, instant upstream
    .venv/bin/python -m bench.profile sse        # 20 streams of 1,000 tokens (scenario 3)
    .venv/bin/python -m bench.profile ttft       # 50 streams, scenario 1's upstream
    .venv/bin/python -m bench.profile ws         # the same over the browser's WebSocket
    .venv/bin/python -m bench.profile chat       # scenario 1's load, ramped: CPU per chat
                                                 # by part, and a flame graph (SVG)
    .venv/bin/python -m bench.profile chat --commit HEAD   # a commit's app, exported

Needs ``py-spy`` (``pip install py-spy``; not a project requirement) and permission to
trace a child process. Writes the collapsed stacks to bench/results/profile-<load>.txt
(open them in speedscope.app or flamegraph.pl) and prints the top functions by own time
and by inclusive time.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench import attribution, clients, flame, loads
from bench.__main__ import RESULTS, expected_text, rounds
from bench.procs import ROOT, App, Upstream
from bench.quick import export, full_commit


async def chat_load(app: App, upstream: Upstream, users: list[dict], seconds: float) -> dict:
    """Scenario 1's load: 50 clients ramped over 2 s, then new conversations back to back
    until ``seconds`` are over; the app's CPU per chat over it, titles included."""
    upstream.configure(first_token_delay=0.2, tokens=100, token_gap=0.01)
    expected = expected_text(100)
    deadline = time.perf_counter() + seconds
    streams: list = []

    async def client(i: int) -> None:
        await asyncio.sleep(i * loads.RAMP_SECONDS / 50)
        while time.perf_counter() < deadline:
            streams.append(await clients.app_sse(http, app.url, users[i]["token"], f"hello {i}"))

    async def run() -> list:
        await asyncio.gather(*(client(i) for i in range(50)))
        return streams

    gc_before = gc_seconds(app)
    async with clients.http_client(50) as http:
        measured = await loads.measured(
            app, run, ok=lambda s: s.error is None and s.text == expected
        )
    await asyncio.sleep(0.6)  # the hook writes its totals every half second
    return {
        "chats": measured.completed,
        "failed": len(streams) - measured.completed,
        "cpu_ms_per_chat": measured.cpu_ms_per_chat,
        "gc_ms_per_chat": (gc_seconds(app) - gc_before) * 1000 / max(measured.completed, 1),
        "chats_per_s": measured.chats_per_second,
    }


def gc_seconds(app: App) -> float:
    """The collector's CPU seconds so far in the app (bench/gc_hook), 0 without the hook."""
    path = Path(app.env.get("BENCH_GC_FILE", "/nonexistent"))
    return json.loads(path.read_text())["seconds"] if path.exists() else 0.0


async def load(kind: str, app: App, upstream: Upstream, users: list[dict], seconds: float):
    if kind == "chat":
        return await chat_load(app, upstream, users, seconds)
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
    parser.add_argument("load", choices=["json", "sse", "ttft", "ws", "chat"])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--database", default=None, help="a PostgreSQL URL (default SQLite)")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--commit", help="profile this commit's app (default: the working tree)")
    parser.add_argument(
        "--native", action="store_true", help="C frames too (the collector, SQLite, JSON)"
    )
    args = parser.parse_args()
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        raise SystemExit("py-spy is not installed: pip install py-spy")
    root = export(full_commit(args.commit)) if args.commit else ROOT
    upstream = Upstream()
    app = App(upstream=upstream, database_url=args.database, root=root)
    out = RESULTS / f"profile-{args.load}.txt"
    RESULTS.mkdir(parents=True, exist_ok=True)
    # The chat load attributes CPU: every thread that is running is sampled, not only the
    # one holding the GIL (SQLite and the JSON encoder work without it).
    # Native stacks need the process paused at each sample (py-spy's blocking mode).
    modes = ["--native"] if args.native else ["--nonblocking"]
    if args.load != "chat":
        modes.append("--gil")
    try:
        data = app.prepare(users=50, big=False)
        if args.load == "chat":
            app.env["PYTHONPATH"] = str(Path(__file__).parent / "gc_hook")
            app.env["BENCH_GC_FILE"] = f"{app.tmp}/gc.json"
        app.start()
        # Warm up: first requests import and compile what later ones reuse.
        asyncio.run(load(args.load, app, upstream, data["users"], 2))
        recorder = subprocess.Popen(
            [
                *(spy, "record", "--pid", str(app.proc.pid), "--format", "raw", "--output"),
                *(str(out), "--rate", "200", *modes),
            ],
            stdout=subprocess.DEVNULL,
            stderr=(RESULTS / "py-spy.log").open("w"),
        )
        time.sleep(1)
        result = asyncio.run(load(args.load, app, upstream, data["users"], args.seconds))
        recorder.send_signal(signal.SIGINT)  # py-spy writes what it recorded and exits
        recorder.wait(60)
    finally:
        app.stop()
        upstream.stop()
        if root != ROOT:
            shutil.rmtree(root, ignore_errors=True)
    print(result)
    summarize(out, args.top)
    if args.load == "chat":
        stacks = flame.read_stacks(out)
        busy = [stack for stack in stacks if not attribution.waiting(stack[0])]
        title = (
            f"CPU of the app under scenario 1's load (50 streams ramped over 2 s, new chats), "
            f"{result['cpu_ms_per_chat']:.1f} ms per chat; {time.strftime('%Y-%m-%d')}"
        )
        (RESULTS / "profile-chat.svg").write_text(flame.render(busy, title=title))
        table = attribution.table(
            stacks,
            cpu_ms_per_chat=result["cpu_ms_per_chat"],
            gc_ms_per_chat=result["gc_ms_per_chat"],
        )
        (RESULTS / "profile-chat.md").write_text(table + "\n")
        print("\n" + table)


if __name__ == "__main__":
    main()
