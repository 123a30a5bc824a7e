"""The daily token quota under parallel sends, from outside: 20 clients at once, against one
process and against two processes sharing Redis. What is spent never passes the quota by
more than one reply's cap, and every refused send is a 429 with Retry-After."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from types import SimpleNamespace
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
from django.core.cache import cache
from django.db.models import F, Sum

from accounts import services as account_services
from bench.procs import App
from conversations.models import Message
from loopback.upstream import Behaviour
from tests.factories import UserFactory

QUOTA = 300
REPLY_CAP = 40
REPLY_TOKENS = 30  # what the upstream answers, within the cap
SENDS = 20


async def send_in_parallel(bases: list[str], token: str) -> list[httpx.Response]:
    """``SENDS`` new conversations at once, spread over ``bases``."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=headers, timeout=60) as client:
        return await asyncio.gather(
            *(
                client.post(bases[i % len(bases)] + "/api/chat", json={"message": f"quota {i}"})
                for i in range(SENDS)
            )
        )


def assert_quota_held(responses: list[httpx.Response], spent: int) -> None:
    codes = [response.status_code for response in responses]
    assert set(codes) <= {200, 429}, [r.text for r in responses]
    assert 200 in codes and 429 in codes
    for refused in (r for r in responses if r.status_code == 429):
        assert refused.json()["code"] == "quota_exceeded"
        assert 1 <= int(refused.headers["Retry-After"]) <= 86401
    assert 0 < spent <= QUOTA + REPLY_CAP, spent


def test_parallel_sends_do_not_overrun_the_quota(live_app, upstream, settings):
    settings.CHATBOT_RATE_LIMIT = None
    settings.CHATBOT_DAILY_TOKEN_QUOTA = QUOTA
    settings.CHATBOT_MAX_REPLY_TOKENS = REPLY_CAP
    upstream.default = Behaviour(tokens=REPLY_TOKENS, first_token_delay=0.1)
    user = UserFactory()
    token = account_services.issue_token(user=user).token

    responses = asyncio.run(send_in_parallel([live_app], token))

    replies = Message.objects.filter(session__user=user, role="assistant")
    assert not replies.filter(status="streaming").exists()
    spent = replies.aggregate(spent=Sum(F("prompt_tokens") + F("completion_tokens")))["spent"]
    assert_quota_held(responses, spent)
    assert {body["max_tokens"] for body in upstream.reply_requests()} == {REPLY_CAP}
    # Every reservation was settled to what its reply really spent.
    assert cache.get(f"token-quota:{user.pk}:{datetime.now(UTC).date().isoformat()}") == spent


@pytest.fixture
def two_processes(upstream_server):
    """Processes A and B on one fresh PostgreSQL database and one Redis database."""
    base = os.environ.get("TEST_DATABASE_URL")
    redis_url = os.environ.get("TEST_REDIS_URL")
    if not base or not redis_url:
        pytest.fail("TEST_DATABASE_URL and TEST_REDIS_URL must point at running services")
    name = f"chatbot_quota_{os.getpid()}"
    database_url = urlunsplit(urlsplit(base)._replace(path="/" + name))
    maintenance = urlunsplit(urlsplit(base)._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    upstream_server.reset()
    upstream_server.default = Behaviour(tokens=REPLY_TOKENS, first_token_delay=0.1)
    upstream = SimpleNamespace(url=upstream_server.base_url.removesuffix("/v1"))
    apps = [App(upstream=upstream, database_url=database_url) for _ in range(2)]
    for app in apps:
        app.env.update(
            REDIS_URL=redis_url,
            CHATBOT_DAILY_TOKEN_QUOTA=str(QUOTA),
            CHATBOT_MAX_REPLY_TOKENS=str(REPLY_CAP),
            DJANGO_STATIC_ROOT=apps[0].env["DJANGO_STATIC_ROOT"],
        )
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    data = apps[0].prepare(users=1, big=False)
    for app in apps:
        app.start()
    yield SimpleNamespace(apps=apps, token=data["users"][0]["token"], database_url=database_url)
    for app in apps:
        app.stop()
    upstream_server.reset()
    with psycopg.connect(maintenance, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres_only
def test_parallel_sends_to_two_processes_do_not_overrun_the_quota(two_processes):
    responses = asyncio.run(
        send_in_parallel([app.url for app in two_processes.apps], two_processes.token)
    )

    with psycopg.connect(two_processes.database_url) as db:
        deadline = time.monotonic() + 30
        while db.execute(
            "SELECT count(*) FROM conversations_message WHERE status = 'streaming'"
        ).fetchone()[0]:
            assert time.monotonic() < deadline, "a reply was left streaming"
            time.sleep(0.1)
        spent = db.execute(
            "SELECT sum(prompt_tokens + completion_tokens) FROM conversations_message "
            "WHERE role = 'assistant'"
        ).fetchone()[0]
    assert_quota_held(responses, spent)
