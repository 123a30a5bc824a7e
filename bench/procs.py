"""Start the upstream and the app as deployed (uvicorn, debug off) in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from loopback.upstream import free_port

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# What docs/deployment.md adds to uvicorn's command line: the client address is the peer's,
# or what DJANGO_TRUSTED_PROXY_COUNT proxies report, never what uvicorn's proxy-header
# handling (on by default, trusting 127.0.0.1) takes from X-Forwarded-For.
UVICORN_FLAGS = ("--no-proxy-headers",)


def wait_http(url: str, timeout: float = 120, proc: subprocess.Popen | None = None) -> None:
    """Wait for ``url`` to answer; on a loaded 2-core machine an app took over 30 s to
    start. Stops early when ``proc`` has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the process serving {url} exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


class Upstream:
    """``loopback.upstream`` in its own process; its default behaviour is set per scenario."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "loopback.upstream", "--port", str(self.port)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_http(self.url + "/v1/models")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def configure(self, **behaviour) -> None:
        request = urllib.request.Request(
            self.url + "/_control/default",
            data=json.dumps(behaviour).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(request, timeout=5).read()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class App:
    """The app as a deployer runs it: migrate, collectstatic, the documented uvicorn command.
    ``root``: the source tree it runs from (another commit's, for a same-run comparison)."""

    def __init__(
        self,
        *,
        upstream: Upstream,
        database_url: str | None,
        workers: int = 1,
        root: Path = ROOT,
    ):
        self.root = root
        self.tmp = tempfile.mkdtemp(prefix="bench-")
        self.port = free_port()
        # A catalogue of two models on the same upstream: the default, and one a send may
        # pick (bench.cpu's "model" figure).
        models_file = Path(self.tmp, "models.toml")
        models_file.write_text(
            "[[providers]]\n"
            'name = "bench"\n'
            f'base_url = "{upstream.url}/v1"\n'
            'api_key_env = "OPENAI_API_KEY"\n\n'
            "[[models]]\n"
            'id = "bench-model"\n'
            'provider = "bench"\n'
            "default = true\n\n"
            "[[models]]\n"
            'id = "bench-alt"\n'
            'provider = "bench"\n'
            'upstream = "bench-model"\n'
        )
        self.env = dict(
            os.environ,
            DJANGO_SETTINGS_MODULE="chatbot.settings",
            DJANGO_DEBUG="0",
            DJANGO_SECRET_KEY="bench-" + "k" * 50,
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            DJANGO_SECURE_SSL_REDIRECT="0",
            DJANGO_SECURE_COOKIES="0",
            DJANGO_STATIC_ROOT=f"{self.tmp}/static",
            DATABASE_URL=database_url or f"sqlite:///{self.tmp}/db.sqlite3",
            OPENAI_BASE_URL=upstream.url + "/v1",
            OPENAI_API_KEY="sk-bench",
            CHATBOT_MODEL="bench-model",
            CHATBOT_MODELS_FILE=str(models_file),
            CHATBOT_RATE_LIMIT="0",
            CHATBOT_LLM_MAX_RETRIES="0",
            DJANGO_LOG_LEVEL="WARNING",
        )
        if self.env["DATABASE_URL"].startswith("postgres"):
            self.env["DATABASE_POOL"] = "1"  # as docs/deployment.md recommends
        for inherited in ("REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"):
            self.env.pop(inherited, None)
        self.workers = workers
        self.proc: subprocess.Popen | None = None

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed: {result.stderr[-2000:]}")
        return result.stdout

    def prepare(self, *, users: int, big: bool, static: bool = True) -> dict:
        """Migrate a fresh database and create users, tokens, cookies and size data;
        ``static=False`` skips collectstatic, for an app that serves no page."""
        # collectstatic (whose compression is most of a quick run's set-up) runs beside
        # the database's preparation.
        collect = [PYTHON, "manage.py", "collectstatic", "--noinput"] if static else ["true"]
        static_run = subprocess.Popen(
            collect,
            cwd=self.root,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            if self.env["DATABASE_URL"].startswith("postgres"):
                self.manage("flush", "--noinput")
            self.manage("migrate", "--noinput")
            out = subprocess.run(
                [PYTHON, "-m", "bench.setup_data", str(users), "1" if big else "0"],
                cwd=self.root,
                env={**self.env, "DJANGO_SETTINGS_MODULE": "chatbot.settings"},
                capture_output=True,
                text=True,
            )
            if out.returncode != 0:
                raise RuntimeError(out.stderr[-2000:])
        except BaseException:
            static_run.kill()
            raise
        _, errors = static_run.communicate()
        if static_run.returncode != 0:
            raise RuntimeError(f"manage.py collectstatic failed: {errors[-2000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])

    def start(self) -> App:
        self.log = open(f"{self.tmp}/app.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "uvicorn",
                "chatbot.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
                *UVICORN_FLAGS,
            ],
            cwd=self.root,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_http(self.url + "/accounts/login/", proc=self.proc)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        """The serving processes (the workers, or the single server process)."""
        if self.workers == 1:
            return [self.proc.pid]
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.log.close()


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def rss_mb(pids: list[int], *, peak: bool = False) -> float:
    key = "VmHWM" if peak else "VmRSS"
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                total += int(line.split()[1])
    return total / 1024
