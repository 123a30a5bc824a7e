"""Outages of the services the app stands on: Redis and PostgreSQL going away mid-run.

Requests during an outage fail fast with a clear 503 (JSON for the API, a page for the
browser), nothing is stored half-way, and service resumes by itself when they return.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import threading
import time

import httpx
import pytest
from asgiref.sync import SyncToAsync
from django.db import connections
from django.test import Client

from conversations.db import close_connections
from conversations.models import Message
from loopback.upstream import Behaviour, free_port


class PrivateRedis:
    """A redis-server of the test's own, on a free port, that the test stops and starts."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is required (apt-get install redis-server)")
        self.binary, self.port = binary, free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while (
            subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True
            ).stdout.strip()
            != "PONG"
        ):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def redis_server(settings):
    server = PrivateRedis()
    server.start()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": server.url,
        }
    }
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": server.url, "socket_timeout": 30}]},
        }
    }
    yield server
    if server.proc.poll() is None:
        server.stop()


def test_redis_outage_is_a_clear_503_and_service_comes_back(api, upstream, redis_server):
    assert api.post("/api/chat", json={"message": "before"}).status_code == 200
    redis_server.stop()
    started = time.monotonic()
    down = api.post("/api/chat", json={"message": "during"})
    assert time.monotonic() - started < 10
    assert down.status_code == 503
    assert down.json()["detail"] == (
        "The service is temporarily unavailable. Please try again in a moment."
    )
    assert not Message.objects.filter(content="during").exists()  # nothing half-stored
    redis_server.start()
    after = api.post("/api/chat", json={"message": "after"})
    assert after.status_code == 200 and after.json()["message"] == "You said: after"


def pg_ctl(action: str) -> None:
    """Stop or start the suite's PostgreSQL: the run's own (TEST_PG_CTL, from
    scripts/services.sh), else the machine's first cluster."""
    command = os.environ.get("TEST_PG_CTL")
    if command:
        base = shlex.split(command)
    else:
        cluster = subprocess.run(
            ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True
        ).stdout.split()[:2]
        base = ["pg_ctlcluster", *cluster]
    subprocess.run([*base, action, "-m", "fast"], check=True)
    if action == "start":
        database = connections["default"].settings_dict
        ready = ["pg_isready", "-q", "-h", database["HOST"], "-p", str(database["PORT"] or 5432)]
        deadline = time.monotonic() + 30
        while subprocess.run(ready).returncode != 0:
            assert time.monotonic() < deadline, "PostgreSQL did not come back"
            time.sleep(0.2)


@pytest.mark.postgres_only
def test_postgres_restart_gives_clear_503s_and_service_resumes(api, upstream, live_app):
    assert api.post("/api/chat", json={"message": "before"}).status_code == 200
    browser = Client()
    browser.force_login(api.user)
    cookies = {"sessionid": browser.cookies["sessionid"].value}
    pg_ctl("stop")
    try:
        started = time.monotonic()
        down = api.post("/api/chat", json={"message": "during"})
        listed = api.get("/api/chat/sessions")
        page = httpx.get(live_app + "/", cookies=cookies, timeout=30)
        assert time.monotonic() - started < 20, "requests during the outage must not hang"
        assert down.status_code == listed.status_code == 503
        assert "temporarily unavailable" in down.json()["detail"]
        assert page.status_code == 503 and "Temporarily unavailable" in page.text
        assert "Traceback" not in page.text and "OperationalError" not in page.text
    finally:
        pg_ctl("start")
        # The suite's own connections died with the server too: this thread's, the one
        # asgiref's shared thread gives async tests, and the app's database threads.
        connections.close_all()
        SyncToAsync.single_thread_executor.submit(connections.close_all).result()
        close_connections()
    after = api.post("/api/chat", json={"message": "after"})
    assert after.status_code == 200, after.text
    assert after.json()["message"] == "You said: after"
    assert not Message.objects.filter(content="during").exists()


@pytest.mark.postgres_only
def test_a_reply_finished_while_postgres_restarts_is_saved_complete(api, upstream, live_app):
    """The final save is retried (CHATBOT_FINAL_SAVE_RETRY) while the database is away."""
    upstream.push(Behaviour(tokens=20, token_gap=0.1))
    events: list[tuple[str, dict]] = []
    first_delta = threading.Event()

    def stream() -> None:
        name = None
        with api.stream("POST", "/api/chat", json={"message": "long", "stream": True}) as reply:
            for line in reply.iter_lines():
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    events.append((name, json.loads(line[5:])))
                    first_delta.set()

    client = threading.Thread(target=stream)
    client.start()
    assert first_delta.wait(10)
    pg_ctl("stop")
    try:
        time.sleep(3)  # the stream (2 s) ends while the database is down
    finally:
        pg_ctl("start")
        connections.close_all()
        SyncToAsync.single_thread_executor.submit(connections.close_all).result()
    client.join(30)
    assert not client.is_alive()

    expected = "".join(f"tok{i} " for i in range(20))
    name, done = events[-1]
    assert name == "done", events[-1]
    assert done["message"] == expected and done["status"] == "complete"
    reply = Message.objects.get(pk=done["messageId"])
    assert reply.status == Message.Status.COMPLETE
    assert reply.content == expected
