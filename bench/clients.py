"""Async load clients: the app's SSE API and WebSocket, and the upstream called directly."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import httpx
import websockets

# The longest wait for a tab's next event: a reply whose end never comes fails the stream
# instead of holding the run.
EVENT_TIMEOUT = 60


@dataclass
class Stream:
    """What one client saw of one streamed reply."""

    ttft: float | None = None  # seconds from sending to the first piece of text
    gaps: list[float] = field(default_factory=list)  # seconds between pieces
    text: str = ""
    error: str | None = None
    total: float = 0.0
    session: str | None = None  # the conversation's id, when the app says it


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


class Pieces:
    """Timing bookkeeping shared by every client."""

    def __init__(self) -> None:
        self.result = Stream()
        self.start = time.perf_counter()
        self.last: float | None = None
        self.parts: list[str] = []

    def piece(self, text: str) -> None:
        """One piece of text as received. The upstream's tokens are "tokN " words; the app
        may deliver several in one delta (text that arrived while the client was busy is
        merged), so each token counts as an arrival: a delta of k tokens adds one gap since
        the previous piece and k - 1 gaps of zero, as k separate events read from one
        network packet would."""
        now = time.perf_counter()
        if self.last is None:
            self.result.ttft = now - self.start
        else:
            self.result.gaps.append(now - self.last)
        self.result.gaps.extend([0.0] * max(text.count(" ") - 1, 0))
        self.last = now
        self.parts.append(text)

    def done(self) -> Stream:
        self.result.text = "".join(self.parts)
        self.result.total = time.perf_counter() - self.start
        return self.result


def http_client(concurrency: int) -> httpx.AsyncClient:
    # Idle connections are dropped before uvicorn's 5 s keep-alive ends: with httpx's
    # default of 5 s, a request written on a connection as uvicorn closed it failed
    # (ReadError) between two measured runs.
    limits = httpx.Limits(
        max_connections=concurrency + 10,
        max_keepalive_connections=concurrency,
        keepalive_expiry=3.0,
    )
    return httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(120.0))


async def app_sse(
    client: httpx.AsyncClient,
    base: str,
    token: str,
    text: str,
    *,
    path: str = "/api/chat",
    extra: dict | None = None,
) -> Stream:
    """A streamed send (``extra`` adds to its body: a model, attachments); ``path`` may be a
    conversation's regenerate route, whose body needs no message."""
    pieces = Pieces()
    body = {"stream": True, **({"message": text} if text else {}), **(extra or {})}
    try:
        async with client.stream(
            "POST",
            base + path,
            json=body,
            headers={"Authorization": f"Bearer {token}", "Accept": "text/event-stream"},
        ) as response:
            if response.status_code != 200:
                pieces.result.error = f"HTTP {response.status_code}"
                return pieces.done()
            event = None
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data = json.loads(line[5:])
                    if event == "delta":
                        pieces.piece(data["content"])
                    elif event == "session":
                        pieces.result.session = data["sessionId"]
                    elif event == "error":
                        pieces.result.error = data.get("detail", "error")
    except httpx.HTTPError as exc:
        pieces.result.error = type(exc).__name__
    return pieces.done()


async def app_openai_sse(client: httpx.AsyncClient, base: str, token: str, text: str) -> Stream:
    """A streamed completion through the app's OpenAI-compatible endpoint."""
    return await _openai_sse(
        client,
        base + "/v1/chat/completions",
        {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"},
        text,
    )


async def _openai_sse(client: httpx.AsyncClient, url: str, headers: dict, text: str) -> Stream:
    pieces = Pieces()
    body = {
        "model": "bench-model",
        "messages": [{"role": "user", "content": text}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    try:
        async with client.stream("POST", url, json=body, headers=headers) as response:
            if response.status_code != 200:
                pieces.result.error = f"HTTP {response.status_code}"
                return pieces.done()
            async for line in response.aiter_lines():
                if line.startswith("data:") and line.strip() != "data: [DONE]":
                    data = json.loads(line[5:])
                    if "error" in data:
                        pieces.result.error = data["error"].get("message", "error")
                    for choice in data.get("choices", []):
                        content = (choice.get("delta") or {}).get("content")
                        if content:
                            pieces.piece(content)
    except httpx.HTTPError as exc:
        pieces.result.error = type(exc).__name__
    return pieces.done()


async def direct_sse(client: httpx.AsyncClient, upstream: str, text: str) -> Stream:
    pieces = Pieces()
    body = {
        "model": "bench-model",
        "messages": [{"role": "user", "content": text}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    try:
        async with client.stream("POST", upstream + "/v1/chat/completions", json=body) as response:
            async for line in response.aiter_lines():
                if line.startswith("data:") and line.strip() != "data: [DONE]":
                    for choice in json.loads(line[5:]).get("choices", []):
                        content = (choice.get("delta") or {}).get("content")
                        if content:
                            pieces.piece(content)
    except httpx.HTTPError as exc:
        pieces.result.error = type(exc).__name__
    return pieces.done()


class Tab:
    """A browser tab: one WebSocket to /ws/chat/, opened on first use and kept open across
    the messages it sends, one at a time, as the chat page does."""

    def __init__(self, base: str, cookie: str) -> None:
        self.url = base.replace("http://", "ws://") + "/ws/chat/"
        self.headers = {"Origin": base, "Cookie": f"sessionid={cookie}"}
        self.socket = None

    async def send(self, text: str) -> Stream:
        """Send ``text`` and time the pieces of its reply."""
        pieces = Pieces()
        reply_id = None
        try:
            if self.socket is None:
                self.socket = await websockets.connect(
                    self.url, additional_headers=self.headers, max_size=None
                )
            pieces.start = time.perf_counter()
            await self.socket.send(json.dumps({"type": "send", "text": text}))
            while True:
                event = json.loads(await asyncio.wait_for(self.socket.recv(), EVENT_TIMEOUT))
                kind = event.get("type")
                if kind == "turn" and reply_id is None:
                    reply_id = event.get("reply", {}).get("messageId")
                elif kind == "delta" and event.get("messageId") == reply_id:
                    pieces.piece(event["content"])
                elif kind == "reply" and event.get("message", {}).get("messageId") == reply_id:
                    if event["message"].get("status") != "complete":
                        pieces.result.error = event["message"].get("status")
                    break
                elif kind == "error":
                    pieces.result.error = event.get("detail", "error")
                    break
        except (OSError, websockets.WebSocketException, TimeoutError) as exc:
            pieces.result.error = type(exc).__name__
            await self.close()
        return pieces.done()

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()
            self.socket = None


async def app_json(client: httpx.AsyncClient, base: str, token: str, text: str) -> float:
    start = time.perf_counter()
    response = await client.post(
        base + "/api/chat", json={"message": text}, headers={"Authorization": f"Bearer {token}"}
    )
    response.raise_for_status()
    return time.perf_counter() - start


async def direct_json(client: httpx.AsyncClient, upstream: str, text: str) -> float:
    start = time.perf_counter()
    response = await client.post(
        upstream + "/v1/chat/completions",
        json={"model": "bench-model", "messages": [{"role": "user", "content": text}]},
    )
    response.raise_for_status()
    return time.perf_counter() - start


async def upload(client: httpx.AsyncClient, base: str, token: str, name: str, data: bytes) -> str:
    """POST /api/files: the new file's id."""
    response = await client.post(
        base + "/api/files",
        files={"file": (name, data, "text/plain")},
        headers={"Authorization": f"Bearer {token}"},
    )
    response.raise_for_status()
    return response.json()["fileId"]
