"""A real OpenAI-compatible HTTP server on loopback, for tests and benchmarks.

It speaks ``/v1/chat/completions`` (plain and streamed as SSE, with usage),
``/v1/moderations`` and ``/v1/models`` over real HTTP through uvicorn, so the OpenAI SDK,
its retries and its SSE parsing are exercised for real. Tests queue ``Behaviour``s to
script failures (5xx, 429, delays, a dropped connection, malformed SSE) and read
``requests`` to assert exactly what the model received.

Run alone (for the benchmark or by hand)::

    python -m loopback.upstream --port 8100 --first-token-delay 0.2 --tokens 100 --token-gap 0.01
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field, fields

import uvicorn

FLAG_WORD = "FLAGME"


@dataclass
class Behaviour:
    """How the upstream answers one chat completion request."""

    status: int = 200
    content: str | None = None  # None echoes "You said: <last user message>"
    tokens: int | None = None  # answer with this many "tokN " pieces instead
    first_token_delay: float = 0.0
    token_gap: float = 0.0
    drop_after: int | None = None  # cut the connection after this many pieces
    malformed_after: int | None = None  # send broken SSE after this many pieces
    stall_after: int | None = None  # go silent (no bytes) after this many pieces
    no_finish: bool = False  # end the stream without a finish reason
    hang: bool = False  # never answer
    usage: bool = True
    cached_tokens: int | None = None  # reported as usage.prompt_tokens_details.cached_tokens
    retry_after: str | None = None


@dataclass
class Moderation:
    status: int = 200
    flag_word: str = FLAG_WORD
    categories: list[str] = field(default_factory=lambda: ["harassment"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeUpstream:
    """The server and its script; ``push`` queues behaviours for the next requests."""

    def __init__(self, default: Behaviour | None = None, port: int | None = None) -> None:
        self.default = default or Behaviour()
        self.queue: deque[Behaviour] = deque()
        self.moderation = Moderation()
        self.models_status = 200  # what GET /v1/models answers
        self.requests: list[dict] = []
        self.port = port or free_port()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.open_streams = 0
        self.closed_early = 0

    # --- control -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def push(self, *behaviours: Behaviour) -> None:
        self.queue.extend(behaviours)

    def reset(self) -> None:
        self.queue.clear()
        self.requests.clear()
        self.default = Behaviour()
        self.moderation = Moderation()
        self.models_status = 200
        self.closed_early = 0

    def chat_requests(self) -> list[dict]:
        """Bodies of the chat completion requests received, oldest first."""
        return [r["body"] for r in self.requests if r["path"].endswith("/chat/completions")]

    def reply_requests(self) -> list[dict]:
        """Chat requests that asked for a reply (not a title)."""
        return [
            body
            for body in self.chat_requests()
            if not body["messages"][0]["content"].startswith("Write a short title")
        ]

    def start(self) -> FakeUpstream:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="error",
            lifespan="off",
            interface="asgi3",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake upstream did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(10)

    # --- the ASGI app --------------------------------------------------------------------

    async def app(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        payload = json.loads(body) if body else {}
        if path.startswith("/_control/"):
            await self._control(path, payload, send)
            return
        self.requests.append({"path": path, "body": payload, "headers": headers})
        if path.endswith("/models") and self.models_status != 200:
            await _json(send, self.models_status, _error_body("models refused"))
        elif path.endswith("/models"):
            await _json(send, 200, {"object": "list", "data": [{"id": "test-model"}]})
        elif path.endswith("/moderations"):
            await self._moderate(payload, send)
        elif path.endswith("/chat/completions"):
            behaviour = self.queue.popleft() if self.queue else self.default
            await self._complete(payload, behaviour, send, receive)
        else:
            await _json(send, 404, {"error": {"message": "not found"}})

    async def _control(self, path: str, payload: dict, send) -> None:
        if path == "/_control/push":
            self.push(*(Behaviour(**item) for item in payload.get("behaviours", [])))
        elif path == "/_control/default":
            self.default = Behaviour(**payload)
        elif path == "/_control/reset":
            self.reset()
        await _json(send, 200, {"requests": self.requests if path == "/_control/requests" else []})

    async def _moderate(self, payload: dict, send) -> None:
        if self.moderation.status != 200:
            await _json(send, self.moderation.status, _error_body("moderation is down"))
            return
        texts = payload.get("input")
        texts = texts if isinstance(texts, list) else [texts]
        results = []
        for text in texts:
            flagged = self.moderation.flag_word in str(text)
            categories = {name: flagged for name in self.moderation.categories}
            categories.setdefault("violence", False)
            results.append(
                {
                    "flagged": flagged,
                    "categories": categories,
                    "category_scores": {k: 0.9 if v else 0.01 for k, v in categories.items()},
                }
            )
        await _json(send, 200, {"id": "modr-1", "model": "omni-moderation", "results": results})

    def _pieces(self, payload: dict, behaviour: Behaviour) -> list[str]:
        if behaviour.tokens is not None:
            return [f"tok{i} " for i in range(behaviour.tokens)]
        content = behaviour.content
        if content is None:
            messages = payload.get("messages", [])
            last = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
            content = f"You said: {last}"
        words = content.split(" ")
        return [w + " " for w in words[:-1]] + [words[-1]]

    async def _complete(self, payload: dict, behaviour: Behaviour, send, receive) -> None:
        if behaviour.hang:
            await asyncio.sleep(3600)
        if behaviour.first_token_delay:
            await asyncio.sleep(behaviour.first_token_delay)
        if behaviour.status != 200:
            extra = (
                [(b"retry-after", behaviour.retry_after.encode())] if behaviour.retry_after else []
            )
            await _json(send, behaviour.status, _error_body("upstream secret failure"), extra)
            return
        model = payload.get("model", "test-model")
        pieces = self._pieces(payload, behaviour)
        usage = {
            "prompt_tokens": sum(
                len(str(m.get("content", "")).split()) for m in payload.get("messages", [])
            ),
            "completion_tokens": len(pieces),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if behaviour.cached_tokens is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": behaviour.cached_tokens}
        if not payload.get("stream"):
            await _json(
                send,
                200,
                {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "".join(pieces)},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage if behaviour.usage else None,
                },
            )
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache"),
                ],
            }
        )
        self.open_streams += 1
        streaming = asyncio.create_task(
            self._stream(send, payload, behaviour, model, pieces, usage)
        )
        disconnected = asyncio.create_task(_wait_for_disconnect(receive))
        try:
            await asyncio.wait({streaming, disconnected}, return_when=asyncio.FIRST_COMPLETED)
            if not streaming.done():
                self.closed_early += 1  # the client closed the request mid-stream
                streaming.cancel()
        finally:
            disconnected.cancel()
            self.open_streams -= 1

    async def _stream(self, send, payload, behaviour, model, pieces, usage) -> None:
        def chunk(delta: dict, finish: str | None = None) -> bytes:
            data = {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return b"data: " + json.dumps(data).encode() + b"\n\n"

        async def write(data: bytes) -> None:
            await send({"type": "http.response.body", "body": data, "more_body": True})

        await write(chunk({"role": "assistant", "content": ""}))
        for index, piece in enumerate(pieces):
            if behaviour.drop_after is not None and index >= behaviour.drop_after:
                # Returning before the body is complete makes uvicorn cut the connection.
                return
            if behaviour.malformed_after is not None and index >= behaviour.malformed_after:
                await write(b"data: {this is not json\n\n")
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            if behaviour.stall_after is not None and index >= behaviour.stall_after:
                await asyncio.sleep(3600)
            if index and behaviour.token_gap:
                await asyncio.sleep(behaviour.token_gap)
            await write(chunk({"content": piece}))
        if not behaviour.no_finish:
            await write(chunk({}, "stop"))
            if behaviour.usage and (payload.get("stream_options") or {}).get("include_usage"):
                data = {
                    "id": "chatcmpl-1",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
                await write(b"data: " + json.dumps(data).encode() + b"\n\n")
            await write(b"data: [DONE]\n\n")
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _wait_for_disconnect(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _error_body(message: str) -> dict:
    return {"error": {"message": message, "type": "server_error", "code": None}}


async def _json(send, status: int, body: dict, extra_headers: list | None = None) -> None:
    raw = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(raw)).encode()),
                *(extra_headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": raw})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8100)
    for item in fields(Behaviour):
        if item.type in ("float", "float | None"):
            parser.add_argument(
                "--" + item.name.replace("_", "-"), type=float, default=item.default
            )
        elif item.type in ("int | None",):
            parser.add_argument("--" + item.name.replace("_", "-"), type=int, default=item.default)
    args = parser.parse_args()
    known = {f.name for f in fields(Behaviour)}
    behaviour = Behaviour(**{k: v for k, v in vars(args).items() if k in known})
    upstream = FakeUpstream(default=behaviour, port=args.port)
    print(json.dumps({"listening": upstream.base_url, "default": asdict(behaviour)}), flush=True)
    uvicorn.run(
        upstream.app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        lifespan="off",
        interface="asgi3",
    )


if __name__ == "__main__":
    main()
