"""A tab that opens on process B while process A generates the reply gets the text so far
from A over Redis, then the rest, in order, nothing missing or doubled."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import websockets

from loopback.upstream import Behaviour
from tests.scale.test_two_processes import cluster, messages, sse_until_delta  # noqa: F401

pytestmark = pytest.mark.postgres_only

TOKENS = 120
FULL = "".join(f"tok{n} " for n in range(TOKENS))


def test_a_tab_on_b_catches_up_with_a_reply_running_on_a(cluster):  # noqa: F811
    user = cluster.users[0]
    cluster.upstream.push(Behaviour(tokens=TOKENS, token_gap=0.04))

    async def scenario():
        async with httpx.AsyncClient(timeout=30) as client:
            session_id, _ = await sse_until_delta(client, cluster.a.url, user["token"], "count")
        await asyncio.sleep(1.0)
        reply = messages(cluster.b.url, user["token"], session_id)[-1]
        assert reply["role"] == "assistant" and reply["status"] == "streaming"
        url = cluster.b.url.replace("http://", "ws://") + "/ws/chat/"
        headers = {"Origin": cluster.b.url, "Cookie": f"sessionid={user['cookie']}"}
        async with websockets.connect(url, additional_headers=headers) as socket:
            await socket.send(json.dumps({"type": "resume", "messageId": reply["messageId"]}))
            text, first, final = "", None, None
            deadline = time.monotonic() + 20
            while final is None and time.monotonic() < deadline:
                event = json.loads(await asyncio.wait_for(socket.recv(), 10))
                if event.get("type") == "delta" and event["messageId"] == reply["messageId"]:
                    # As the page does: a live delta past what the tab has (it may come
                    # before the text so far from A) waits for that answer.
                    if event["offset"] > len(text):
                        continue
                    first = first or event
                    text += event["content"][len(text) - event["offset"] :]
                elif event.get("type") == "reply":
                    final = event["message"]
            return first, text, final

    first, text, final = asyncio.run(scenario())
    assert first["offset"] == 0 and first["content"].startswith("tok0 tok1 tok2 ")
    assert first["content"].count("tok") >= 10, "the text so far came from process A"
    assert final["status"] == "complete"
    assert text.split() == final["content"].split() == FULL.split()
