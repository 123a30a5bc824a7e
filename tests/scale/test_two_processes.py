"""Scale-out: two app processes (uvicorn, debug off) on one PostgreSQL and one Redis.

A reply started through process A reaches a browser socket connected to process B; the
rate limit is shared; a process stopped mid-stream leaves its reply failed, never stuck
streaming, whether it is stopped cleanly (SIGTERM) or killed (SIGKILL).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from types import SimpleNamespace
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
import websockets

from bench.procs import App
from loopback.upstream import Behaviour

pytestmark = pytest.mark.postgres_only


def required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} must point at a running service (scripts/services.sh sets it)")
    return value


@pytest.fixture(scope="module")
def cluster(upstream_server):
    """Processes A and B sharing a fresh PostgreSQL database and a Redis database."""
    base = required("TEST_DATABASE_URL")
    redis_url = required("TEST_REDIS_URL").rsplit("/", 1)[0] + "/3"
    name = f"chatbot_scale_{os.getpid()}"
    parts = urlsplit(base)
    database_url = urlunsplit(parts._replace(path="/" + name))
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    upstream = SimpleNamespace(url=upstream_server.base_url.removesuffix("/v1"))
    apps = [App(upstream=upstream, database_url=database_url) for _ in range(2)]
    for app in apps:
        app.env.update(
            REDIS_URL=redis_url,
            CHATBOT_RATE_LIMIT="4/min",
            CHATBOT_STREAM_STALE_AFTER="2",
            CHATBOT_STREAM_HEARTBEAT="0.5",
            CHATBOT_STREAM_SAVE_INTERVAL="0.2",
            DJANGO_STATIC_ROOT=apps[0].env["DJANGO_STATIC_ROOT"],
        )
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    data = apps[0].prepare(users=4, big=False)
    for app in apps:
        app.start()
    yield SimpleNamespace(a=apps[0], b=apps[1], users=data["users"], upstream=upstream_server)
    for app in apps:
        app.stop()
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def sse_until_delta(client: httpx.AsyncClient, base: str, token: str, text: str):
    """Start a streamed reply and return (session id, reply id) once text flows."""
    async with client.stream(
        "POST",
        base + "/api/chat",
        json={"message": text, "stream": True},
        headers={"Authorization": f"Bearer {token}"},
    ) as response:
        assert response.status_code == 200
        event, session_id = None, None
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data = json.loads(line[5:])
                if event == "session":
                    session_id = data["sessionId"]
                elif event == "delta":
                    return session_id, data
    raise AssertionError("the stream ended before any text")


def messages(base: str, token: str, session_id: str) -> list[dict]:
    response = httpx.get(
        f"{base}/api/chat/sessions/{session_id}/messages",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_reply_started_on_a_reaches_a_socket_on_b(cluster):
    user = cluster.users[0]
    cluster.upstream.push(Behaviour(content="one two three four five", token_gap=0.05))

    async def scenario():
        url = cluster.b.url.replace("http://", "ws://") + "/ws/chat/"
        headers = {"Origin": cluster.b.url, "Cookie": f"sessionid={user['cookie']}"}
        async with websockets.connect(url, additional_headers=headers) as socket:
            async with httpx.AsyncClient(timeout=30) as client:
                response = await client.post(
                    cluster.a.url + "/api/chat",
                    json={"message": "hello across processes"},
                    headers={"Authorization": f"Bearer {user['token']}"},
                )
            assert response.status_code == 200, response.text
            reply_id = response.json()["messageId"]
            seen, final = "", None
            deadline = time.monotonic() + 10
            while final is None and time.monotonic() < deadline:
                event = json.loads(await asyncio.wait_for(socket.recv(), 10))
                if event.get("type") == "delta" and event.get("messageId") == reply_id:
                    seen += event["content"]
                elif event.get("type") == "reply" and event["message"]["messageId"] == reply_id:
                    final = event["message"]
            return seen, final

    seen, final = asyncio.run(scenario())
    assert final is not None and final["status"] == "complete"
    assert seen == final["content"] == "one two three four five"


def test_rate_limit_is_shared_by_both_processes(cluster):
    token = cluster.users[1]["token"]
    headers = {"Authorization": f"Bearer {token}"}
    codes = []
    for base in [cluster.a.url, cluster.b.url, cluster.a.url, cluster.b.url, cluster.a.url]:
        response = httpx.post(
            base + "/api/chat", json={"message": "hi"}, headers=headers, timeout=30
        )
        codes.append(response.status_code)
    assert codes == [200, 200, 200, 200, 429]
    response = httpx.post(cluster.b.url + "/api/chat", json={"message": "hi"}, headers=headers)
    assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_a_process_stopped_mid_stream_leaves_its_reply_failed_with_its_text(cluster, how):
    user = cluster.users[2 if how == signal.SIGTERM else 3]
    cluster.upstream.push(Behaviour(tokens=400, token_gap=0.05))
    victim = App(upstream=SimpleNamespace(url=""), database_url=None)
    victim.env = dict(cluster.a.env)
    victim.workers = 1
    victim.start()

    async def start_stream():
        async with httpx.AsyncClient(timeout=30) as client:
            session_id, _ = await sse_until_delta(client, victim.url, user["token"], "long one")
            await asyncio.sleep(1.0)  # let some text be saved
            return session_id

    session_id = asyncio.run(start_stream())
    victim.proc.send_signal(how)
    victim.proc.wait(30)
    victim.log.close()
    deadline = time.monotonic() + 15
    while True:
        reply = messages(cluster.b.url, user["token"], session_id)[-1]
        if reply["status"] != "streaming" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert reply["role"] == "assistant"
    assert reply["status"] == "failed"
    assert reply["content"].startswith("tok0 tok1 ")
    assert "tok399" not in reply["content"]


def test_an_idle_socket_stays_open_on_the_redis_layer(cluster):
    """redis-py's default read timeout once killed every socket idle for a few seconds."""
    user = cluster.users[0]

    async def scenario():
        url = cluster.b.url.replace("http://", "ws://") + "/ws/chat/"
        headers = {"Origin": cluster.b.url, "Cookie": f"sessionid={user['cookie']}"}
        async with websockets.connect(url, additional_headers=headers) as socket:
            await asyncio.sleep(12)
            await socket.send(json.dumps({"type": "no-such-type"}))
            return json.loads(await asyncio.wait_for(socket.recv(), 5))

    answer = asyncio.run(scenario())
    assert answer["type"] == "error" and answer["detail"] == "Unknown message type."
