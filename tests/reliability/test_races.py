"""Deletes racing sends and regenerates on the same conversations, over the real ASGI
server with parallel clients, on SQLite and on PostgreSQL: each delete answers 200 and
takes every row with it, or the send comes after it and answers 404; never a 500, never a
503 (a deadlock), never a message left without its conversation."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
from django.test import Client

from accounts import services as account_services
from conversations.models import ChatSession, Message
from loopback.upstream import Behaviour
from tests.factories import UserFactory, conversation

CONVERSATIONS = 40


def orphans() -> int:
    return Message.objects.exclude(session_id__in=ChatSession.objects.values("pk")).count()


def wait_until_no_reply_streams(user, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while Message.objects.filter(session__user=user, status="streaming").exists():
        assert time.monotonic() < deadline, "a reply was left streaming"
        time.sleep(0.1)


def test_deletes_racing_sends_and_regenerates_leave_nothing_behind(live_app, upstream, settings):
    settings.CHATBOT_RATE_LIMIT = None
    user = UserFactory()
    token = account_services.issue_token(user=user).token
    sessions = [str(conversation(user, turns=1).pk) for _ in range(CONVERSATIONS)]
    # Half the deletes go through the page's form, with the browser's cookie and CSRF token.
    browser = Client()
    browser.force_login(user)
    cookies = {"sessionid": browser.cookies["sessionid"].value}
    with httpx.Client(base_url=live_app, cookies=cookies) as page:
        form = page.get(f"/c/{sessions[0]}/delete/")
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        cookies = dict(page.cookies)
    # A little delay keeps replies in flight while the deletes land.
    upstream.default = Behaviour(first_token_delay=0.02, token_gap=0.005)

    async def race():
        bearer = {"Authorization": f"Bearer {token}"}
        async with (
            httpx.AsyncClient(base_url=live_app, headers=bearer, timeout=60) as api,
            httpx.AsyncClient(
                base_url=live_app, cookies=cookies, headers={"Referer": live_app}, timeout=60
            ) as browser,
        ):

            def delete(index: int, session_id: str):
                if index % 2:
                    return browser.post(
                        f"/c/{session_id}/delete/", data={"csrfmiddlewaretoken": csrf}
                    )
                return api.delete(f"/api/chat/sessions/{session_id}")

            requests = []
            for index, session_id in enumerate(sessions):
                requests += [
                    api.post("/api/chat", json={"message": "one", "sessionId": session_id}),
                    api.post(f"/api/chat/sessions/{session_id}/regenerate", json={}),
                    delete(index, session_id),
                    api.post("/api/chat", json={"message": "two", "sessionId": session_id}),
                ]
            return await asyncio.gather(*requests)

    responses = asyncio.run(race())
    wait_until_no_reply_streams(user)

    codes = [response.status_code for response in responses]
    sends = codes[0::4] + codes[3::4]
    regenerates, deletes = codes[1::4], codes[2::4]
    failures = [r.text[:300] for r in responses if r.status_code >= 500]
    assert not failures, failures
    assert set(deletes) <= {200, 302}, deletes
    assert set(sends) <= {200, 404}, sends
    assert set(regenerates) <= {200, 404, 409}, regenerates
    assert 404 in sends  # the race really happened: some sends came after their delete
    assert not ChatSession.objects.filter(pk__in=sessions).exists()
    assert not Message.objects.filter(session_id__in=sessions).exists()
    assert orphans() == 0
