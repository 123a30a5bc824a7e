"""Fixtures for the whole suite: the loopback model upstream and users."""

from __future__ import annotations

import asyncio
import copy
import time
import uuid

import pytest
from asgiref.sync import SyncToAsync
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import channel_layers
from django.db import connections

from conversations.db import close_connections as close_db_thread_connections
from loopback.upstream import FakeUpstream
from tests.factories import UserFactory, bystander_conversation


def pytest_collection_modifyitems(config, items):
    """Run the browser tests last: Playwright's sync API leaves its event loop in the main
    thread for the rest of the session, which async tests must not run after. Tests of
    PostgreSQL itself (restarts, several processes on one database) run in the PostgreSQL
    pass only; on SQLite they are deselected, not skipped."""
    from django.conf import settings

    if "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
        deselected = [item for item in items if item.get_closest_marker("postgres_only")]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = [item for item in items if item not in deselected]
    items.sort(key=lambda item: "chromium" in getattr(item, "fixturenames", ()))
    for item in items:
        if "chromium" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session", autouse=True)
def _close_async_test_connections(django_db_setup):
    """Async tests reach the ORM through asgiref's shared thread; close its connection
    before the test database is dropped (PostgreSQL refuses to drop a database in use)."""
    yield
    SyncToAsync.single_thread_executor.submit(connections.close_all).result()
    close_db_thread_connections()


@pytest.fixture(autouse=True)
def _private_cache(settings):
    """Rate-limit and quota counters are keyed by user id, which repeats across test
    databases running in parallel on one Redis; a per-test key prefix keeps them apart."""
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["KEY_PREFIX"] = f"test-{uuid.uuid4().hex}"
    settings.CACHES = caches


@pytest.fixture(autouse=True)
def _own_channel_layer():
    """A channel layer object of each test's own. With Redis one object serves the whole
    test process, and channels-redis refuses receives from two event loops at once: a
    consumer of an earlier test (each test has its own loop) cancelled mid-receive left
    the next test's communicator waiting for events that never came."""
    channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)
    yield
    channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)


class FrozenClock:
    """``time.time`` that moves only when a test says so."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def frozen_clock(monkeypatch):
    """The wall clock (``time.time``) stopped at a UTC midnight, the start of every rate
    window (s, min, hour, day); also drives the local-memory cache's expiry."""
    clock = FrozenClock(float(20_000 * 86_400))
    monkeypatch.setattr(time, "time", clock)
    return clock


@pytest.fixture(scope="session")
def upstream_server():
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def upstream(upstream_server, settings):
    """The real OpenAI-compatible server on loopback, configured as the app's model."""
    upstream_server.reset()
    settings.OPENAI_BASE_URL = upstream_server.base_url
    settings.OPENAI_API_KEY = "sk-test-secret-key"
    settings.CHATBOT_MODEL = "test-model"
    yield upstream_server
    upstream_server.reset()


class _ClosingEventLoop(asyncio.SelectorEventLoop):
    """A test's event loop closes the model clients it opened (aiohttp sessions) before it
    closes itself, as the app's lifespan shutdown does for the server's loop."""

    def close(self) -> None:
        if not self.is_closed() and not self.is_running():
            from conversations import llm

            self.run_until_complete(llm.close_clients())
        super().close()


class _ClosingEventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    def new_event_loop(self):
        return _ClosingEventLoop()


# Every loop of the suite: pytest-asyncio's, and those asgiref starts when the sync test
# client calls an async view.
asyncio.set_event_loop_policy(_ClosingEventLoopPolicy())


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def other_user(db):
    return UserFactory()


@pytest.fixture
def bystanders(db):
    """A second user's conversation in the database (old messages, a hidden one and a stale
    streaming reply), so that tests of reads and writes can assert what must not appear."""
    return bystander_conversation()


# --- A live ASGI server and a real Chromium, for browser and black-box tests -----------


class LiveServer:
    """The real ASGI application (HTTP and WebSockets) served by uvicorn in a thread."""

    def __init__(self) -> None:
        import threading

        import uvicorn

        from loopback.upstream import free_port

        self.port = free_port()
        config = uvicorn.Config(
            "chatbot.asgi:application",
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            ws="websockets-sansio",
            # As docs/deployment.md runs it: only DJANGO_TRUSTED_PROXY_COUNT reads X-Forwarded-For.
            proxy_headers=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the live ASGI server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="session")
def live_server_process(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        server = LiveServer().start()
    yield server
    server.stop()


@pytest.fixture
def live_app(live_server_process, transactional_db):
    """Base URL of the app served over ASGI; the test's data is committed so it sees it."""
    return live_server_process.url


@pytest.fixture(scope="session")
def artifacts_dir():
    """Where browser tests save screenshots; printed so a reader can find them."""
    import os
    from pathlib import Path

    path = Path(os.environ.get("TEST_ARTIFACTS", "test-artifacts")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots and browser artifacts: {path}")
    return path


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium driven by Playwright; missing Chromium fails, it never skips."""
    import os
    import shutil

    from playwright.sync_api import expect, sync_playwright

    # expect() waits 5 s by default, too little on a loaded two-core CI machine; a passing
    # assertion returns as soon as it holds, so a longer wait costs nothing.
    expect.set_options(timeout=15_000)
    executable = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")
    if not executable:
        pytest.fail("Chromium is required for browser tests: apt-get install chromium")
    # Playwright's sync API keeps an event loop in the test thread, which makes Django's
    # async-safety check refuse the test's own database setup and teardown.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(
        executable_path=executable,
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    )
    yield browser
    browser.close()
    playwright.stop()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def browser_context(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    yield context
    context.close()


@pytest.fixture
def page(browser_context):
    """A fresh page; JavaScript errors and dialogs are recorded on ``page.js_errors``."""
    page = browser_context.new_page()
    page.js_errors = []
    page.dialogs = []
    page.on("pageerror", lambda error: page.js_errors.append(str(error)))
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    return page
