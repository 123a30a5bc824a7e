"""A tab that joins a streaming reply (a reload, a new socket) gets the text so far from the
reply's runner, over the channel layer, and then only what follows: deltas carry offsets."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from conversations.models import Message
from loopback.upstream import Behaviour
from tests.factories import UserFactory
from tests.web.conftest import receive_until, settle

pytestmark = pytest.mark.django_db(transaction=True)

TOKENS = 60
FULL = "".join(f"tok{n} " for n in range(TOKENS))


def assemble(events: list[dict], *, have: str = "") -> str:
    """What the page does with deltas (chat.js ``onDelta``): append from the offset, skip what
    it has, and leave a delta past a gap to the text-so-far answer it asked for (a tab that
    has just joined may get the reply's live deltas before that answer)."""
    text = have
    for event in events:
        if event["type"] != "delta" or event["offset"] > len(text):
            continue
        text += event["content"][len(text) - event["offset"] :]
    return text


async def test_deltas_carry_offsets_that_follow_each_other(upstream, sockets):
    user = await sync_to_async(UserFactory)()
    upstream.push(Behaviour(tokens=20, token_gap=0.01))
    socket = await sockets(user)
    await socket.send_json_to({"type": "send", "text": "count"})
    events = await receive_until(socket, "reply")
    deltas = [event for event in events if event["type"] == "delta"]
    offsets = [event["offset"] for event in deltas]
    lengths = [len(event["content"]) for event in deltas]
    assert offsets == [sum(lengths[:n]) for n in range(len(deltas))]
    assert assemble(events) == "".join(f"tok{n} " for n in range(20))
    await settle(events[-1]["message"]["messageId"])


async def test_a_tab_joining_mid_stream_gets_the_text_so_far_then_the_rest(upstream, sockets):
    user = await sync_to_async(UserFactory)()
    upstream.push(Behaviour(tokens=TOKENS, token_gap=0.03))
    first = await sockets(user)
    await first.send_json_to({"type": "send", "text": "count"})
    turn = await first.receive_json_from(timeout=5)
    reply_id = turn["reply"]["messageId"]
    seen = await receive_until(first, "delta")
    while assemble(seen).count("tok") < 10:
        seen.append(await first.receive_json_from(timeout=5))

    # A reloaded page: it has what the database held (possibly nothing yet) and a new socket.
    stored = await sync_to_async(Message.objects.get)(pk=reply_id)
    assert stored.status == "streaming"
    second = await sockets(user)
    await second.send_json_to({"type": "resume", "messageId": reply_id})
    events = await receive_until(second, "reply")
    catch_up = next(e for e in events if e["type"] == "delta" and e["offset"] == 0)
    assert catch_up["content"].count("tok") >= 10
    assert assemble(events, have=stored.content) == FULL
    assert events[-1]["message"]["content"] == FULL
    await settle(reply_id)


async def test_resume_of_a_reply_that_has_ended_sends_its_final_row(upstream, sockets):
    user = await sync_to_async(UserFactory)()
    socket = await sockets(user)
    await socket.send_json_to({"type": "send", "text": "hello"})
    reply = (await receive_until(socket, "reply"))[-1]["message"]
    await settle(reply["messageId"])
    late = await sockets(user)
    await late.send_json_to({"type": "resume", "messageId": reply["messageId"]})
    final = await late.receive_json_from(timeout=5)
    assert final["type"] == "reply" and final["message"]["content"] == "You said: hello"
    assert final["message"]["status"] == "complete"


async def test_resume_of_another_users_reply_answers_nothing(upstream, sockets):
    owner, stranger = await sync_to_async(UserFactory.create_batch)(2)
    upstream.push(Behaviour(tokens=30, token_gap=0.03))
    socket = await sockets(owner)
    await socket.send_json_to({"type": "send", "text": "secret"})
    reply_id = (await socket.receive_json_from(timeout=5))["reply"]["messageId"]
    intruder = await sockets(stranger)
    await intruder.send_json_to({"type": "resume", "messageId": reply_id})
    assert await intruder.receive_nothing(timeout=0.5)
    await receive_until(socket, "reply")
    await settle(reply_id)
