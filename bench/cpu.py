"""CPU per chat: the app process's CPU milliseconds per completed chat, per transport and
per feature, and a calibration loop that tells a slower machine from a costlier chat.

A chat is a new conversation (as API consumers mostly send) with a 100-token reply from an
upstream that waits 200 ms and then sends a token every 10 ms; its title, asked for after
the reply, is included: the CPU is counted until the app is quiet again. Clients are
ramped over 2 s, then send back to back. CPU time depends little on queueing, so this
figure holds on a loaded machine where latency does not.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time

import httpx

from bench import clients
from bench.loads import RAMP_SECONDS, idle_rate, measured, settle, staggered
from bench.procs import App, Upstream

TOKENS = 100
EXPECTED = "".join(f"tok{i} " for i in range(TOKENS))
ALT_MODEL = "bench-alt"  # the catalogue's second model (bench.procs writes the file)
DOCUMENT = ("A short document for the benchmark. " * 20).encode()

IDLE_SECONDS = 2.0
TRANSPORTS = ("sse", "websocket", "openai")
FEATURES = ("regenerate", "model", "attachment")


def calibrate(rounds: int = 5) -> float:
    """CPU milliseconds of a fixed pure-Python workload (JSON, strings, dicts, as a chat's
    own work is), the median of ``rounds``: on a slower or busier core it grows with the
    app's CPU per chat, so their ratio compares across machines."""
    payload = {"messages": [{"role": "user", "content": "word " * 40, "n": i} for i in range(50)]}
    times = []
    for _ in range(rounds):
        start = time.process_time()
        for i in range(300):
            text = json.dumps(payload)
            data = json.loads(text)
            parts = [f"{m['role']}:{m['n']}:{len(m['content'])}" for m in data["messages"]]
            index = {part: i for part in parts}
            "".join(sorted(index))
        times.append((time.process_time() - start) * 1000)
    return statistics.median(times)


async def attachments_accepted(base: str) -> bool:
    """Whether this app's POST /api/chat takes ``attachments`` (read from its schema)."""
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.get(base + "/api/schema/", params={"format": "json"})
    if response.status_code != 200:
        return False
    schema = response.json()
    body = schema["paths"]["/api/chat"]["post"]["requestBody"]["content"]["application/json"]
    ref = body["schema"].get("$ref", "")
    properties = schema["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {}).get("properties")
    return "attachments" in (properties or {})


class Load:
    """One transport's or feature's chats against one app, kept ready between runs so
    that runs against two apps can alternate (``bench.quick``)."""

    def __init__(
        self,
        app: App,
        users: list[dict],
        *,
        kind: str,
        clients_count: int = 20,
        per_client: int = 3,
    ) -> None:
        self.app, self.users, self.kind = app, users, kind
        self.clients_count, self.per_client = clients_count, per_client
        self.available, self.why = True, ""
        self.runs: list[dict] = []
        self.errors: set[str] = set()

    async def __aenter__(self) -> Load:
        if self.kind == "attachment" and not await attachments_accepted(self.app.url):
            self.available, self.why = False, "POST /api/chat does not take attachments yet"
            return self
        self.http = await clients.http_client(self.clients_count).__aenter__()
        self.tabs = [
            clients.Tab(self.app.url, self.users[i]["cookie"]) for i in range(self.clients_count)
        ]
        self.sessions = {}
        if self.kind == "regenerate":  # one conversation per client, answered again and again
            first = await asyncio.gather(
                *(
                    clients.app_sse(self.http, self.app.url, self.users[i]["token"], "hello")
                    for i in range(self.clients_count)
                )
            )
            self.sessions = {i: stream.session for i, stream in enumerate(first)}
        # Warm up: the first chats of a kind import and compile what later ones reuse.
        await asyncio.gather(*(self.chat(i) for i in range(4)))
        # The app's idle CPU, once, over 2 s: /proc counts CPU in 10 ms ticks, and one tick
        # in a 0.5 s window read as 2 % of a core, which over a run's 10 s took 3 ms off
        # each of its 60 chats: the likely cause of runs of 12-14 ms among runs of 20.
        await settle(self.app, 0.0)
        self.idle = await idle_rate(self.app, IDLE_SECONDS)
        return self

    async def __aexit__(self, *exc) -> None:
        if self.available:
            for tab in self.tabs:
                await tab.close()
            await self.http.__aexit__(*exc)

    async def chat(self, i: int):
        http, url, token = self.http, self.app.url, self.users[i]["token"]
        if self.kind == "websocket":
            return await self.tabs[i].send(f"hello {i}")
        if self.kind == "openai":
            return await clients.app_openai_sse(http, url, token, f"hello {i}")
        if self.kind == "regenerate":
            path = f"/api/chat/sessions/{self.sessions[i]}/regenerate"
            return await clients.app_sse(http, url, token, "", path=path)
        extra = {}
        if self.kind == "model":
            extra = {"model": ALT_MODEL}
        elif self.kind == "attachment":
            file_id = await clients.upload(http, url, token, "notes.txt", DOCUMENT)
            extra = {"attachments": [file_id]}
        return await clients.app_sse(http, url, token, f"hello {i}", extra=extra)

    async def run(self) -> dict:
        """One measured load: every client sends its chats back to back."""
        calibration = calibrate()
        run = await measured(
            self.app,
            lambda: staggered(self.chat, self.clients_count, self.per_client, RAMP_SECONDS),
            ok=lambda s: s.error is None and s.text == EXPECTED,
            idle=self.idle,
        )
        self.errors.update(s.error for s in run.streams if s.error)
        figures = {
            "cpu_ms_per_chat": run.cpu_ms_per_chat,
            "calibration_ms": calibration,
            "cpu_per_chat_per_calibration": run.cpu_ms_per_chat / calibration,
            "chats": run.completed,
            "failed": len(run.streams) - run.completed,
        }
        self.runs.append(figures)
        return figures

    def figures(self) -> dict:
        """Every run so far, summarized."""
        if not self.available:
            return {"available": False, "why": self.why}
        return {
            "available": True,
            **summary(self.runs),
            "error_kinds": sorted(self.errors)[:5],
            "clients": self.clients_count,
        }


async def cpu_per_chat(
    app: App,
    upstream: Upstream,
    users: list[dict],
    *,
    kind: str,
    clients_count: int = 20,
    per_client: int = 3,
    repeats: int = 3,
) -> dict:
    """The median over ``repeats`` of one load's CPU per chat, for a transport (sse,
    websocket, openai) or a feature (regenerate, model, attachment) over the SSE API."""
    upstream.configure(first_token_delay=0.2, tokens=TOKENS, token_gap=0.01)
    load = Load(app, users, kind=kind, clients_count=clients_count, per_client=per_client)
    async with load:
        if load.available:
            for _ in range(repeats):
                await load.run()
    return load.figures()


def summary(runs: list[dict]) -> dict:
    """A figure over its runs: the median of each run's, the chats summed."""
    return {
        "cpu_ms_per_chat": statistics.median(r["cpu_ms_per_chat"] for r in runs),
        "calibration_ms": statistics.median(r["calibration_ms"] for r in runs),
        "cpu_per_chat_per_calibration": statistics.median(
            r["cpu_per_chat_per_calibration"] for r in runs
        ),
        "chats": sum(r["chats"] for r in runs),
        "failed": sum(r["failed"] for r in runs),
        "runs": runs,
    }
