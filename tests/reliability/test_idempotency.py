"""Retries are safe: the same Idempotency-Key and user within 24 hours returns the first
answer instead of a second conversation turn."""

from __future__ import annotations

import asyncio
import time

import httpx

from accounts import services as account_services
from conversations.models import Message
from loopback.upstream import Behaviour
from tests.factories import UserFactory


def test_a_retried_send_returns_the_first_answer(api, upstream):
    headers = {"Idempotency-Key": "order-42"}
    first = api.post("/api/chat", json={"message": "book it"}, headers=headers)
    again = api.post("/api/chat", json={"message": "book it"}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert Message.objects.count() == 2
    assert len(upstream.reply_requests()) == 1


def test_a_retry_while_the_first_is_still_streaming_waits_for_it(api, upstream, live_app):
    upstream.push(Behaviour(tokens=20, token_gap=0.05))
    headers = {**api.headers, "Idempotency-Key": "slow-1"}

    async def both():
        async with httpx.AsyncClient(base_url=live_app, headers=headers, timeout=30) as client:
            first = asyncio.create_task(client.post("/api/chat", json={"message": "go"}))
            # The retry goes once the first is streaming from the model (a fixed pause can
            # end before a loaded server has even taken the first request).
            deadline = time.monotonic() + 30
            while not upstream.reply_requests():
                assert time.monotonic() < deadline, "the first request never reached the model"
                await asyncio.sleep(0.02)
            second = await client.post("/api/chat", json={"message": "go", "stream": True})
            return await first, second

    first, second = asyncio.run(both())
    assert first.status_code == 200 and second.status_code == 200
    assert second.headers["Idempotent-Replayed"] == "true"
    assert first.json()["message"] == "".join(f"tok{i} " for i in range(20))
    assert first.json()["message"] in second.text.replace("\\n", "")
    assert Message.objects.count() == 2


def test_keys_are_per_user_and_invalid_keys_are_refused(api, live_app, upstream):
    api.post("/api/chat", json={"message": "a"}, headers={"Idempotency-Key": "shared"})
    other = account_services.issue_token(user=UserFactory()).token
    theirs = httpx.post(
        live_app + "/api/chat",
        json={"message": "a"},
        headers={"Authorization": f"Bearer {other}", "Idempotency-Key": "shared"},
    )
    assert theirs.status_code == 200 and "Idempotent-Replayed" not in theirs.headers
    bad = api.post("/api/chat", json={"message": "a"}, headers={"Idempotency-Key": "x" * 300})
    assert bad.status_code == 400 and "Idempotency-Key" in bad.json()["detail"] + str(
        bad.json().get("field")
    )
    assert Message.objects.count() == 4
