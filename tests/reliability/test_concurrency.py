"""Concurrent sends over the real ASGI server, on SQLite and on PostgreSQL: no error,
every message stored once, sequences unique and gapless, each reply after its question."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from accounts import services as account_services
from conversations.models import Message
from tests.factories import UserFactory


def stored(session_id) -> list[tuple[int, str, str, str]]:
    return list(
        Message.objects.filter(session_id=session_id)
        .order_by("sequence")
        .values_list("sequence", "role", "status", "content")
    )


def assert_paired_and_gapless(rows, questions: set[str]) -> None:
    assert [row[0] for row in rows] == list(range(1, len(rows) + 1))
    asked = [row[3] for row in rows if row[1] == "user"]
    assert sorted(asked) == sorted(questions) and len(asked) == len(set(asked))
    for question, answer in zip(rows[::2], rows[1::2], strict=True):
        assert question[1] == "user" and answer[1] == "assistant"
        assert answer[2] == "complete" and answer[3] == f"You said: {question[3]}"


@pytest.fixture
def token_for(live_app):
    return lambda user: account_services.issue_token(user=user).token


def test_twenty_concurrent_sends_to_one_conversation(live_app, upstream, token_for):
    token = token_for(UserFactory())
    headers = {"Authorization": f"Bearer {token}"}
    first = httpx.post(live_app + "/api/chat", json={"message": "q-start"}, headers=headers)
    assert first.status_code == 200, first.text
    session_id = first.json()["sessionId"]
    questions = {f"q-{i}" for i in range(20)}

    async def send_all():
        async with httpx.AsyncClient(base_url=live_app, headers=headers, timeout=60) as client:
            return await asyncio.gather(
                *(
                    client.post("/api/chat", json={"message": q, "sessionId": session_id})
                    for q in sorted(questions)
                )
            )

    responses = asyncio.run(send_all())
    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses]
    assert {r.json()["sessionId"] for r in responses} == {session_id}
    assert_paired_and_gapless(stored(session_id), questions | {"q-start"})


def test_fifty_clients_send_to_their_own_conversations_at_once(live_app, upstream, token_for):
    tokens = [token_for(UserFactory()) for _ in range(50)]

    async def send(client, token, index):
        return await client.post(
            "/api/chat",
            json={"message": f"hello from {index}"},
            headers={"Authorization": f"Bearer {token}"},
        )

    async def send_all():
        limits = httpx.Limits(max_connections=60)
        async with httpx.AsyncClient(base_url=live_app, timeout=60, limits=limits) as client:
            return await asyncio.gather(*(send(client, t, i) for i, t in enumerate(tokens)))

    responses = asyncio.run(send_all())
    assert [r.status_code for r in responses] == [200] * 50, [r.text for r in responses]
    for index, response in enumerate(responses):
        rows = stored(response.json()["sessionId"])
        assert_paired_and_gapless(rows, {f"hello from {index}"})
        assert response.json()["messageId"] == str(
            Message.objects.get(session_id=response.json()["sessionId"], sequence=2).pk
        )
