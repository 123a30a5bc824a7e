"""Fixtures for the deployment's tests: the app served as docs/deployment.md says, in its
own process (bench.procs.App), on the pass's database and Redis."""

from __future__ import annotations

import os
from types import SimpleNamespace
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.conf import settings

from bench.procs import App

PASSWORD = "Deployed-pass-123!"


@pytest.fixture(scope="module")
def deployed(upstream_server):
    """Start the app as deployed: ``deployed(**environment)`` returns a running ``App`` with
    fresh rate-limit counters, sharing one prepared store with a user ``ada`` (``PASSWORD``).

    A SQLite file on the SQLite pass; a database of its own and the suite's Redis on the
    PostgreSQL pass, as in production."""
    upstream = SimpleNamespace(url=upstream_server.base_url.removesuffix("/v1"))
    database_url = None
    on_postgres = "postgresql" in settings.DATABASES["default"]["ENGINE"]
    if on_postgres:
        base = os.environ["DATABASE_URL"]
        name = f"chatbot_infra_{os.getpid()}"
        database_url = urlunsplit(urlsplit(base)._replace(path="/" + name))
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
    first = App(upstream=upstream, database_url=database_url)
    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        first.env["REDIS_URL"] = redis_url
    first.prepare(users=1, big=False)
    first.manage(
        "shell",
        "-c",
        "from accounts.models import User;"
        f"User.objects.create_user(username='ada', email='ada@example.com', password='{PASSWORD}')",
    )
    started: list[App] = []

    def start(**environment: str) -> App:
        if redis_url:
            import redis

            # Counters are keyed by client address; a fresh process must start from zero.
            redis.Redis.from_url(redis_url).flushdb()
        app = App(upstream=upstream, database_url=database_url)
        app.env = {**first.env, **environment}
        started.append(app)
        return app.start()

    yield start
    for app in started:
        app.stop()
    if on_postgres:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
