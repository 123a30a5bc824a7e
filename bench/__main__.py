"""The benchmark: the app as deployed against a direct call to the same upstream, one run.

    make bench                          # SQLite, then PostgreSQL + Redis (its own)
    .venv/bin/python -m bench --db sqlite --quick

Every streaming scenario runs the same load straight against the upstream first and then
through the app, and reports the app's figures as differences and ratios to that baseline.
Writes bench/results/latest.json and latest.md (copy the table into docs/performance.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import branches, clients, cpu, loads
from bench.clients import percentile
from bench.procs import PYTHON, ROOT, App, Upstream, cpu_seconds, rss_mb

RESULTS = ROOT / "bench" / "results"
EXPECTED_PIECES = 100
STREAM_SECONDS = 0.2 + EXPECTED_PIECES * 0.01  # the upstream's first token, then 10 ms apart


def summarize(streams: list[clients.Stream], expected: str | None = None) -> dict:
    ttfts = [s.ttft for s in streams if s.ttft is not None]
    gaps = [g for s in streams for g in s.gaps]
    errors = [s.error for s in streams if s.error]
    incomplete = sum(1 for s in streams if expected is not None and s.text != expected)
    return {
        "streams": len(streams),
        "errors": len(errors),
        "error_kinds": sorted(set(errors))[:5],
        "incomplete": incomplete,
        "ttft_p50_ms": percentile(ttfts, 50) * 1000,
        "ttft_p99_ms": percentile(ttfts, 99) * 1000,
        "gap_p50_ms": percentile(gaps, 50) * 1000,
        "gap_p99_ms": percentile(gaps, 99) * 1000,
    }


def compare(app: dict, direct: dict) -> dict:
    return {
        "app": app,
        "direct": direct,
        "ttft_p50_added_ms": app["ttft_p50_ms"] - direct["ttft_p50_ms"],
        "ttft_p99_added_ms": app["ttft_p99_ms"] - direct["ttft_p99_ms"],
        "gap_p99_added_ms": app["gap_p99_ms"] - direct["gap_p99_ms"],
    }


def expected_text(tokens: int) -> str:
    return "".join(f"tok{i} " for i in range(tokens))


async def rounds(make, concurrency: int, count: int) -> list[clients.Stream]:
    """``count`` rounds of ``concurrency`` simultaneous streams."""
    streams: list[clients.Stream] = []
    for _ in range(count):
        streams += await asyncio.gather(*(make(i) for i in range(concurrency)))
    return streams


async def steady(make, concurrency: int, per_client: int, stream_seconds: float) -> list:
    """``concurrency`` streams open at all times, their starts spread evenly (the *even*
    shape of ``bench.loads``)."""
    return await loads.staggered(make, concurrency, per_client, stream_seconds)


@dataclass
class Row:
    """One TTFT row: its shape, how many clients, and what each sends."""

    label: str
    shape: str
    concurrency: int
    per_client: int = 0
    rate: float = 0.0  # poisson: arrivals per second
    seconds: float = 0.0  # poisson: how long arrivals come


def through_app(http, app: App, users: list[dict], tabs: list, *, websocket: bool, openai: bool):
    """A chat through the app for client ``i``: the SSE API, the WebSocket or /v1."""

    def make(i: int):
        if websocket:
            return tabs[i].send(f"hello {i}")
        if openai:
            return clients.app_openai_sse(http, app.url, users[i]["token"], f"hello {i}")
        return clients.app_sse(http, app.url, users[i]["token"], f"hello {i}")

    return make


def shaped(row: Row, make, clients_count: int):
    """``make``'s chats in the row's load shape."""
    if row.shape == "burst":
        return rounds(make, row.concurrency, row.per_client)
    if row.shape == "poisson":
        return loads.poisson(make, rate=row.rate, seconds=row.seconds, clients=clients_count)
    spread = STREAM_SECONDS if row.shape == "even" else loads.RAMP_SECONDS
    return loads.staggered(make, row.concurrency, row.per_client, spread)


async def ttft_row(app: App, upstream: Upstream, users: list[dict], row: Row, **transport) -> dict:
    """One row: the load direct, then through the app with its CPU measured."""
    expected = expected_text(EXPECTED_PIECES)
    clients_count = min(len(users), 200) if row.shape == "poisson" else row.concurrency
    # Over the WebSocket each client is a browser tab: one socket, kept open across its
    # messages (the chat page does not reconnect per message).
    tabs = [clients.Tab(app.url, users[i]["cookie"]) for i in range(clients_count)]

    def complete(stream) -> bool:
        return stream.error is None and stream.text == expected

    async with clients.http_client(max(clients_count, 50)) as http:

        def direct(i: int):
            return clients.direct_sse(http, upstream.url, f"hello {i}")

        started = time.perf_counter()
        direct_streams = await shaped(row, direct, clients_count)
        direct_wall = time.perf_counter() - started
        make = through_app(http, app, users, tabs, **transport)
        run = await loads.measured(app, lambda: shaped(row, make, clients_count), ok=complete)
    for tab in tabs:
        await tab.close()
    figures = compare(summarize(run.streams, expected), summarize(direct_streams, expected))
    direct_rate = sum(1 for s in direct_streams if complete(s)) / direct_wall
    figures.update(
        shape=row.shape,
        concurrency=row.concurrency,
        cpu_ms_per_chat=run.cpu_ms_per_chat,
        app_chats_per_s=run.chats_per_second,
        direct_chats_per_s=direct_rate,
        throughput_ratio=run.chats_per_second / direct_rate,
    )
    if row.shape == "poisson":
        figures.update(rate_per_s=row.rate, arrival_seconds=row.seconds)
    return figures


async def ttft_scenario(
    app: App,
    upstream: Upstream,
    users: list[dict],
    *,
    websocket: bool,
    quick: bool,
    openai: bool = False,
    shapes: tuple[str, ...] = ("ramped", "even", "poisson", "burst"),
    concurrencies: tuple[int, ...] = (1, 10, 50),
) -> dict:
    """Time to first token through the app and direct, under each load shape, with the
    app's CPU per chat and chats per second. Poisson arrivals come at 80 % of the capacity
    that the ramped row at the highest concurrency measured (so "ramped" comes first):
    the lower of its chats per second and a full core's worth of its CPU per chat."""
    upstream.configure(first_token_delay=0.2, tokens=EXPECTED_PIECES, token_gap=0.01)
    per_client = {1: 5 if quick else 15, 10: 3 if quick else 5, 50: 2 if quick else 4}
    # Warm up: a transport's first chats import and compile what later ones reuse, which
    # would be charged to the first row's CPU per chat.
    await ttft_row(
        app, upstream, users, Row("warm-up", "even", 4, 2), websocket=websocket, openai=openai
    )
    out: dict = {}
    for shape in shapes:
        if shape in ("even", "ramped"):
            rows = [Row(f"{shape} {c}", shape, c, per_client[c]) for c in concurrencies]
        elif shape == "burst":
            rows = [Row("burst 50", "burst", 50, 2 if quick else 3)]
        else:
            top = out.get(f"ramped {max(concurrencies)}")
            if top is None:
                continue
            capacity = min(top["app_chats_per_s"], 1000 / top["cpu_ms_per_chat"])
            rows = [
                Row("poisson 80%", "poisson", 0, rate=0.8 * capacity, seconds=8 if quick else 15)
            ]
        for row in rows:
            out[row.label] = await ttft_row(
                app, upstream, users, row, websocket=websocket, openai=openai
            )
    return out


async def relay_scenario(app: App, upstream: Upstream, users: list[dict]) -> dict:
    tokens, concurrency = 1000, 20
    upstream.configure(tokens=tokens)
    expected = expected_text(tokens)
    async with clients.http_client(concurrency) as http:
        start = time.perf_counter()
        direct = await rounds(lambda i: clients.direct_sse(http, upstream.url, "x"), concurrency, 1)
        direct_wall = time.perf_counter() - start
        cpu_before = cpu_seconds(app.pids())
        start = time.perf_counter()
        through = await rounds(
            lambda i: clients.app_sse(http, app.url, users[i]["token"], "x"), concurrency, 1
        )
        app_wall = time.perf_counter() - start
        cpu = cpu_seconds(app.pids()) - cpu_before
    relayed = sum(len(s.text.split()) for s in through)
    return {
        "app": summarize(through, expected),
        "direct": summarize(direct, expected),
        "tokens_relayed": relayed,
        "app_cpu_seconds": cpu,
        "cpu_us_per_token": cpu / max(relayed, 1) * 1e6,
        "app_tokens_per_s": relayed / app_wall,
        "direct_tokens_per_s": tokens * concurrency / direct_wall,
        "throughput_ratio": (relayed / app_wall) / (tokens * concurrency / direct_wall),
    }


async def many_users_scenario(app: App, upstream: Upstream, users: list[dict], quick: bool) -> dict:
    concurrency = 100 if quick else 500
    seconds = 10 if quick else 30
    ramp = 5.0  # users arrive over the first seconds; then all streams are open together
    gap = 0.05  # 20 tokens per second
    tokens = int(seconds / gap)
    upstream.configure(tokens=tokens, token_gap=gap)
    expected = expected_text(tokens)
    async with clients.http_client(concurrency) as http:
        direct = await steady(
            lambda i: clients.direct_sse(http, upstream.url, "x"), concurrency, 1, ramp
        )
        sampler = asyncio.create_task(sample_rss(app))
        through = await steady(
            lambda i: clients.app_sse(http, app.url, users[i]["token"], "x"), concurrency, 1, ramp
        )
        sampler.cancel()
        sampled = await sampler
    result = compare(summarize(through, expected), summarize(direct, expected))
    result.update(
        concurrency=concurrency,
        stream_seconds=seconds,
        ramp_seconds=ramp,
        rss_sampled_peak_mb=sampled,
        rss_peak_mb=rss_mb(app.pids(), peak=True),
    )
    return result


async def sample_rss(app: App) -> float:
    peak = 0.0
    try:
        while True:
            peak = max(peak, rss_mb(app.pids()))
            await asyncio.sleep(0.5)
    except asyncio.CancelledError:
        return peak


async def json_scenario(app: App, upstream: Upstream, users: list[dict], quick: bool) -> dict:
    upstream.configure(content="a short instant answer")
    concurrency, seconds = 10, (3 if quick else 10)

    async def load(call) -> tuple[list[float], float]:
        latencies: list[float] = []
        deadline = time.perf_counter() + seconds

        async def worker(i: int) -> None:
            while time.perf_counter() < deadline:
                latencies.append(await call(i))

        start = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        return latencies, time.perf_counter() - start

    async with clients.http_client(concurrency) as http:
        direct, direct_wall = await load(lambda i: clients.direct_json(http, upstream.url, "hi"))
        cpu_before = cpu_seconds(app.pids())
        through, app_wall = await load(
            lambda i: clients.app_json(http, app.url, users[i]["token"], f"hi {i}")
        )
        cpu = cpu_seconds(app.pids()) - cpu_before
    return {
        "app_rps": len(through) / app_wall,
        "direct_rps": len(direct) / direct_wall,
        "app_rps_per_core": len(through) / max(cpu, 1e-9),
        "latency_p50_added_ms": (percentile(through, 50) - percentile(direct, 50)) * 1000,
        "latency_p99_added_ms": (percentile(through, 99) - percentile(direct, 99)) * 1000,
        "app_latency_p50_ms": percentile(through, 50) * 1000,
        "direct_latency_p50_ms": percentile(direct, 50) * 1000,
    }


async def size_scenario(app: App, data: dict) -> dict:
    async def p50(path: str, token: str) -> float:
        times = []
        async with clients.http_client(1) as http:
            for _ in range(30):
                start = time.perf_counter()
                response = await http.get(
                    app.url + path, headers={"Authorization": f"Bearer {token}"}
                )
                response.raise_for_status()
                times.append(time.perf_counter() - start)
        return statistics.median(times) * 1000

    return {
        "sessions_page_10k_p50_ms": await p50("/api/chat/sessions?limit=50", data["bigToken"]),
        "sessions_page_empty_p50_ms": await p50("/api/chat/sessions?limit=50", data["emptyToken"]),
        "messages_page_10k_p50_ms": await p50(
            f"/api/chat/sessions/{data['longSession']}/messages?limit=50", data["bigToken"]
        ),
        "messages_page_empty_p50_ms": await p50(
            f"/api/chat/sessions/{data['emptySession']}/messages?limit=50", data["emptyToken"]
        ),
    }


def context_scenario(app: App) -> dict:
    out = subprocess.run(
        [PYTHON, "-m", "bench.setup_data", "context"],
        cwd=ROOT,
        env={**app.env, "DJANGO_SETTINGS_MODULE": "chatbot.settings"},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def branches_command(app: App, *args: str) -> dict:
    """``bench.branches`` in the app's settings and database; its JSON line."""
    out = subprocess.run(
        [PYTHON, "-m", "bench.branches", *args],
        cwd=ROOT,
        env={**app.env, "DJANGO_SETTINGS_MODULE": "chatbot.settings"},
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(f"bench.branches {args[0]} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


async def branches_scenario(app: App) -> dict:
    """Issue 14: the messages page of a deep current branch in a conversation of 10,000
    messages and 100 branch points, from a client on loopback (server time plus a local
    round trip), its queries against a short conversation's, and the context's cost."""
    data = branches_command(app, "seed")

    async def timings(session: str) -> list[float]:
        path = f"/api/chat/sessions/{session}/messages?limit=50"
        times = []
        async with clients.http_client(1) as http:
            for i in range(210):
                start = time.perf_counter()
                response = await http.get(
                    app.url + path, headers={"Authorization": f"Bearer {data['token']}"}
                )
                response.raise_for_status()
                if i >= 10:  # the first requests warm the connection and the caches
                    times.append(time.perf_counter() - start)
        return times

    branched, short = await timings(data["session"]), await timings(data["shortSession"])
    return {
        "messages": branches.SIZE,
        "branch_points": branches.BRANCHES,
        "leaf_depth": data["leafDepth"],
        "page_p50_ms": percentile(branched, 50) * 1000,
        "page_p99_ms": percentile(branched, 99) * 1000,
        "short_page_p50_ms": percentile(short, 50) * 1000,
        "short_page_p99_ms": percentile(short, 99) * 1000,
        **branches_command(app, "measure", data["session"], data["shortSession"], data["token"]),
    }


async def cpu_scenario(app: App, upstream: Upstream, users: list[dict], quick: bool) -> dict:
    """CPU per chat per transport and per feature (``bench.cpu``)."""
    repeats = 1 if quick else 3
    return {
        kind: await cpu.cpu_per_chat(app, upstream, users, kind=kind, repeats=repeats)
        for kind in (*cpu.TRANSPORTS, *cpu.FEATURES)
    }


async def run_database(label: str, database_url: str | None, args) -> dict:
    upstream = Upstream()
    app = App(upstream=upstream, database_url=database_url, workers=args.workers)
    try:
        print(f"[{label}] preparing data", flush=True)
        users = 100 if args.quick else 500
        data = app.prepare(users=users, big=True)
        app.start()
        result = {}
        steps = [
            (
                "1_ttft_sse",
                lambda: ttft_scenario(
                    app, upstream, data["users"], websocket=False, quick=args.quick
                ),
            ),
            (
                "2_ttft_websocket",
                lambda: ttft_scenario(
                    app, upstream, data["users"], websocket=True, quick=args.quick
                ),
            ),
            ("3_relay_cost", lambda: relay_scenario(app, upstream, data["users"])),
            ("4_many_users", lambda: many_users_scenario(app, upstream, data["users"], args.quick)),
            ("5_plain_json", lambda: json_scenario(app, upstream, data["users"], args.quick)),
            ("6_size", lambda: size_scenario(app, data)),
            ("10_branches", lambda: branches_scenario(app)),
            ("11_prompt_cache", lambda: asyncio.to_thread(branches_command, app, "cache")),
            ("9_cpu_per_chat", lambda: cpu_scenario(app, upstream, data["users"], args.quick)),
            (
                "8_ttft_openai",
                lambda: ttft_scenario(
                    app, upstream, data["users"], websocket=False, quick=args.quick, openai=True
                ),
            ),
        ]
        for name, step in steps:
            if not selected(name, args.only):
                continue
            print(f"[{label}] scenario {name}", flush=True)
            started = time.perf_counter()
            result[name] = await step()
            result[name]["seconds"] = round(time.perf_counter() - started, 1)
        if selected("7_long_conversation", args.only):
            print(f"[{label}] scenario 7_long_conversation", flush=True)
            result["7_long_conversation"] = context_scenario(app)
        result["app_rss_peak_mb"] = rss_mb(app.pids(), peak=True)
        return result
    finally:
        app.stop()
        upstream.stop()


def selected(name: str, only: list[str] | None) -> bool:
    """Whether ``--only`` picks a scenario: by its number (``1`` is not ``10``) or a prefix
    of its name with the number (``7_long``)."""
    if not only:
        return True
    number = name.split("_", 1)[0]
    return any(o == number or ("_" in o and name.startswith(o)) for o in only)


def provenance() -> dict:
    """What a figure needs to be reproduced: the date, the commit, whether the tree had
    uncommitted changes (then the figures are not that commit's), and the machine's load."""

    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return result.stdout.strip()

    changed = [
        line for line in git("status", "--porcelain", "--untracked-files=no").splitlines() if line
    ]
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": git("rev-parse", "--short=12", "HEAD") or "unknown",
        "uncommitted_files": len(changed),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def machine() -> dict:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description="App vs direct upstream benchmark")
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--postgres", default=os.environ.get("TEST_DATABASE_URL", ""))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="smaller loads, for a smoke run")
    parser.add_argument("--only", nargs="*", help="scenario numbers, e.g. 1 3 10")
    args = parser.parse_args()
    databases = []
    if args.db in ("sqlite", "both"):
        databases.append(("sqlite", None))
    if args.db in ("postgres", "both"):
        if not args.postgres:
            parser.error("PostgreSQL needs --postgres URL or TEST_DATABASE_URL")
        databases.append(("postgres", args.postgres))
    report = {
        "machine": machine(),
        **provenance(),
        "workers": args.workers,
        "quick": args.quick,
        "results": {},
    }
    started = time.perf_counter()
    for label, url in databases:
        report["results"][label] = asyncio.run(run_database(label, url, args))
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2))
    from bench.report import markdown

    (RESULTS / "latest.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
