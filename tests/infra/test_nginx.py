"""The documented topology, run: Debian's nginx with deploy/nginx.conf in front of the app
served as deployed (uvicorn, DJANGO_TRUSTED_PROXY_COUNT=1), both on loopback.

Through nginx: the REST contract, a streamed reply that arrives while the model is still
writing it, a WebSocket chat, static files, the body limit, and the per-address token
throttle that forged X-Forwarded-For headers cannot escape.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import websockets
from django.conf import settings

from bench.procs import ROOT, wait_http
from loopback.upstream import Behaviour, free_port
from tests.infra.conftest import PASSWORD

CONFIG = ROOT / "deploy" / "nginx.conf"
# Seconds any one request or wait may take: a loaded CI machine hashes a password in the
# deployed app far more slowly than httpx's default 5 s allow for.
TIMEOUT = 30


class Nginx:
    """A private nginx (not a daemon, prefix in a temporary directory) running the shipped
    site configuration with this machine's ports and paths."""

    def __init__(self, *, app_port: int, static_root: str) -> None:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(binary).exists():
            pytest.fail("nginx is required (scripts/services.sh installs it)")
        self.binary, self.port = binary, free_port()
        self.prefix = Path(tempfile.mkdtemp(prefix="nginx-"))
        site = CONFIG.read_text()
        for shipped, here in (
            ("server 127.0.0.1:8000;", f"server 127.0.0.1:{app_port};"),
            ("    listen 80;\n", f"    listen 127.0.0.1:{self.port};\n"),
            ("/var/log/nginx/chatbot.access.log", str(self.access_log)),
            ("alias /srv/chatbot/staticfiles/;", f"alias {static_root}/;"),
        ):
            assert shipped in site, f"deploy/nginx.conf no longer has {shipped!r}"
            site = site.replace(shipped, here)
        (self.prefix / "chatbot.conf").write_text(site)
        temp_paths = "\n".join(
            f"    {kind}_temp_path {self.prefix / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        # The static files live in a root-only temporary directory when the suite runs as root.
        user = "user root;\n" if os.geteuid() == 0 else ""
        (self.prefix / "nginx.conf").write_text(
            f"{user}daemon off;\nworker_processes 1;\npid {self.prefix / 'nginx.pid'};\n"
            f"error_log {self.prefix / 'error.log'} warn;\n"
            "events { worker_connections 256; }\n"
            "http {\n    include /etc/nginx/mime.types;\n"
            "    default_type application/octet-stream;\n"
            f"{temp_paths}\n    include {self.prefix / 'chatbot.conf'};\n}}\n"
        )
        self.proc: subprocess.Popen | None = None

    @property
    def access_log(self) -> Path:
        return self.prefix / "access.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Nginx:
        command = [self.binary, "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf")]
        checked = subprocess.run(
            [*command, "-e", str(self.prefix / "error.log"), "-t"], capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stderr
        self.proc = subprocess.Popen([*command, "-e", str(self.prefix / "error.log")])
        wait_http(self.url + "/accounts/login/")
        return self

    def stop(self) -> None:
        self.proc.terminate()  # nginx's fast shutdown
        self.proc.wait(10)
        shutil.rmtree(self.prefix, ignore_errors=True)


@pytest.fixture(scope="module")
def front(deployed):
    """``front()``: a fresh app process (fresh counters) behind its own nginx."""
    started: list[Nginx] = []

    def start() -> SimpleNamespace:
        app = deployed(DJANGO_TRUSTED_PROXY_COUNT="1")
        nginx = Nginx(app_port=app.port, static_root=app.env["DJANGO_STATIC_ROOT"])
        started.append(nginx.start())
        return SimpleNamespace(url=nginx.url, nginx=nginx, app=app)

    yield start
    for nginx in started:
        nginx.stop()


@pytest.fixture(scope="module")
def site(front):
    return front()


def sign_in(base: str) -> dict[str, str]:
    token = httpx.post(
        base + "/api/auth/token",
        json={"username": "ada", "password": PASSWORD},
        timeout=TIMEOUT,
    )
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['token']}"}


def test_the_rest_contract_through_nginx(site, upstream_server):
    upstream_server.reset()
    auth = sign_in(site.url)
    api = httpx.Client(base_url=site.url, headers=auth, timeout=TIMEOUT)

    first = api.post("/api/chat", json={"message": "My name is Ada"})
    assert first.status_code == 200 and first.json()["message"] == "You said: My name is Ada"
    session_id = first.json()["sessionId"]
    second = api.post("/api/chat", json={"message": "What is my name?", "sessionId": session_id})
    assert second.status_code == 200 and second.json()["sessionId"] == session_id
    asked = [
        [message["content"] for message in request["body"].get("messages", [])]
        for request in upstream_server.requests
        if "What is my name?" in str(request["body"])
    ]
    assert asked and "My name is Ada" in asked[-1]

    api.post("/api/chat", json={"message": "another conversation"})
    listed = api.get("/api/chat/sessions", params={"limit": 1})
    assert listed.status_code == 200 and len(listed.json()) == 1
    # The next page's link names nginx's address: Host and X-Forwarded-Proto reach the app.
    assert listed.headers["Link"].startswith(f"<{site.url}/api/chat/sessions?")

    renamed = api.patch(f"/api/chat/sessions/{session_id}", json={"title": "Names"})
    assert renamed.status_code == 200 and renamed.json()["title"] == "Names"
    regenerated = api.post(f"/api/chat/sessions/{session_id}/regenerate", json={})
    assert regenerated.status_code == 200 and "messageId" in regenerated.json()
    history = api.get(f"/api/chat/sessions/{session_id}/messages").json()
    assert [message["role"] for message in history] == ["user", "assistant"] * 2

    assert api.delete(f"/api/chat/sessions/{session_id}").json() == {"success": True}
    assert api.get(f"/api/chat/sessions/{session_id}").status_code == 404
    schema = httpx.get(
        site.url + "/api/schema/", headers={"Accept": "application/json"}, timeout=TIMEOUT
    )
    assert schema.status_code == 200 and "openapi" in schema.json()


def test_a_streamed_reply_arrives_while_the_model_is_still_writing_it(site, upstream_server):
    upstream_server.reset()
    upstream_server.push(Behaviour(tokens=12, token_gap=0.25))
    auth = sign_in(site.url)
    events, upstream_open_at_first_delta = [], None
    with httpx.stream(
        "POST",
        site.url + "/api/chat",
        json={"message": "stream please", "stream": True},
        headers=auth,
        timeout=TIMEOUT,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in response.iter_lines():
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                events.append((kind, json.loads(line[5:])))
                if kind == "delta" and upstream_open_at_first_delta is None:
                    upstream_open_at_first_delta = upstream_server.open_streams

    # A buffering proxy would have held the first pieces until the model had finished.
    assert upstream_open_at_first_delta == 1
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "session" and kinds[-1] == "done"
    streamed = "".join(data["content"] for kind, data in events if kind == "delta")
    assert streamed == events[-1][1]["message"] == " ".join(f"tok{n}" for n in range(12)) + " "


def test_a_websocket_chat_through_nginx(site, upstream_server):
    upstream_server.reset()
    browser = httpx.Client(base_url=site.url, timeout=TIMEOUT)
    browser.get("/accounts/login/")
    signed_in = browser.post(
        "/accounts/login/",
        data={
            "login": "ada",
            "password": PASSWORD,
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
        },
        headers={"Origin": site.url, "Referer": site.url + "/accounts/login/"},
    )
    assert signed_in.status_code == 302, signed_in.text

    async def chat() -> list[dict]:
        async with websockets.connect(
            site.url.replace("http://", "ws://") + "/ws/chat/",
            additional_headers={
                "Origin": site.url,
                "Cookie": f"sessionid={browser.cookies['sessionid']}",
            },
        ) as socket:
            await socket.send(json.dumps({"type": "send", "text": "hello through nginx"}))
            events = []
            while not events or events[-1]["type"] not in ("reply", "error"):
                events.append(json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT)))
            return events

    events = asyncio.run(chat())

    assert events[0]["type"] == "turn"
    assert events[-1]["type"] == "reply", events[-1]
    assert events[-1]["message"]["status"] == "complete"
    assert events[-1]["message"]["content"] == "You said: hello through nginx"


def test_static_files_come_from_static_root_with_long_caching(site):
    static_root = Path(site.app.env["DJANGO_STATIC_ROOT"])
    manifest = json.loads((static_root / "staticfiles.json").read_text())["paths"]
    hashed = manifest["js/chat.js"]

    served = httpx.get(f"{site.url}/static/{hashed}", timeout=TIMEOUT)

    assert served.status_code == 200
    assert served.content == (static_root / hashed).read_bytes()
    assert "immutable" in served.headers["Cache-Control"]


def test_a_body_over_the_apps_limit_is_refused_by_nginx_as_json(site):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert f"client_max_body_size {limit // 1024}k;" in CONFIG.read_text()

    refused = httpx.post(
        site.url + "/api/chat",
        content=b'{"message": "' + b"x" * limit + b'"}',
        headers={"Content-Type": "application/json"},
        timeout=TIMEOUT,
    )

    assert refused.status_code == 413
    assert refused.json() == {"detail": "Request body too large."}


def test_v1_completions_take_an_inline_image_as_large_as_the_app_does():
    """nginx must not refuse what the app takes: its own 413 for /v1/chat/completions sits
    at or over the app's limit for that route (an image inline as base64)."""
    config = CONFIG.read_text()
    block = config[config.index("location = /v1/chat/completions {") :]
    block = block[: block.index("}")]
    megabytes = int(block.split("client_max_body_size ")[1].split("m;")[0])
    assert megabytes * 1024 * 1024 >= settings.BODY_LIMITS_BY_PATH["/v1/chat/completions"]
    assert "proxy_buffering off;" in block


def test_search_terms_stay_out_of_nginx_access_log(site):
    auth = sign_in(site.url)
    searched = httpx.get(
        site.url + "/api/chat/sessions", params={"q": "secretterm"}, headers=auth, timeout=TIMEOUT
    )
    assert searched.is_success

    line = '"GET /api/chat/sessions HTTP/1.1" 200'
    deadline = time.monotonic() + TIMEOUT  # nginx writes the line once the response is sent
    while line not in (log := site.nginx.access_log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert line in log
    assert "secretterm" not in log


def test_forged_forwarded_for_headers_do_not_escape_the_token_throttle(front):
    fresh = front()

    def ask(client: httpx.Client, n: int) -> int:
        return client.post(
            "/api/auth/token",
            json={"username": f"nobody{n}", "password": "wrong"},
            headers={"X-Forwarded-For": f"203.0.113.{n}"},
        ).status_code

    # Each answer with the seconds from the first ask until it came back.
    answers: list[tuple[int, float]] = []
    with httpx.Client(base_url=fresh.url, timeout=TIMEOUT) as client:
        started = time.monotonic()
        for n in range(15):
            status = ask(client, n)
            answers.append((status, time.monotonic() - started))
    # Another client address, as nginx reports it, has its own allowance: the app keys on
    # nginx's entry of X-Forwarded-For, not on its peer (always nginx) nor on the forgery.
    other = httpx.Client(
        base_url=fresh.url,
        transport=httpx.HTTPTransport(local_address="127.0.0.2"),
        timeout=TIMEOUT,
    )
    with other:
        elsewhere = ask(other, 99)

    # 10 sign-ins a minute, counted from each allowed one: the first ten are answered, and
    # every ask answered within a minute of the first is refused. (On a loaded machine the
    # ten wrong passwords can take long enough that a late ask is in a new minute; what it
    # gets then shows nothing either way.)
    assert [status for status, _ in answers[:10]] == [401] * 10
    within = [status for status, seconds in answers[10:] if seconds < 60]
    assert within, f"the asks took over a minute, so none could be refused: {answers}"
    assert within == [429] * len(within), answers
    assert elsewhere == 401
