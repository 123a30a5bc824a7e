"""The OpenAI-compatible endpoint driven by clients nobody here wrote (the official
``openai`` SDK, sync and async, and langchain-openai), against the app served by uvicorn and
the real loopback upstream: what the model received, and what was stored."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import openai
import pytest
from langchain_openai import ChatOpenAI

from accounts import services as account_services
from chatbot.env import parse_rate
from conversations.models import ChatSession, Message
from loopback.upstream import Behaviour
from tests.factories import UserFactory, conversation

HISTORY = [
    {"role": "system", "content": "Answer in French."},
    {"role": "user", "content": "first question"},
    {"role": "assistant", "content": "first answer"},
    {"role": "user", "content": [{"type": "text", "text": "second question"}]},
]


def stored(session_id, token, base) -> list[tuple[str, str, str]]:
    """The conversation's messages as the REST API shows them to the token's user."""
    api = base.removesuffix("/v1")
    headers = {"Authorization": f"Bearer {token}"}
    session = httpx.get(f"{api}/api/chat/sessions/{session_id}", headers=headers)
    messages = httpx.get(f"{api}/api/chat/sessions/{session_id}/messages", headers=headers)
    assert session.status_code == messages.status_code == 200
    return [(m["role"], m["content"], m["status"]) for m in messages.json()]


def test_sdk_completion_starts_a_conversation_from_the_request(caller, upstream):
    user, token, base = caller
    client = openai.OpenAI(base_url=base, api_key=token, max_retries=0)

    raw = client.chat.completions.with_raw_response.create(
        model="test-model",
        messages=HISTORY,
        temperature=0.25,
        top_p=0.5,
        max_tokens=40,
        stop=["END"],
        user="end-user-7",
    )
    completion = raw.parse()

    assert completion.object == "chat.completion"
    assert completion.model == "test-model"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == "You said: second question"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.completion_tokens == 4  # the words of the echo
    sent = upstream.reply_requests()[-1]
    assert sent["model"] == "test-model"
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"], sent["stop"]) == (
        0.25,
        0.5,
        40,
        ["END"],
    )
    assert sent["messages"][0]["role"] == "system"
    assert "Answer in French." in sent["messages"][0]["content"]
    assert sent["messages"][1:] == [
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "second question"},
    ]
    session_id = raw.headers["X-Chat-Session-Id"]
    session = ChatSession.objects.get(pk=session_id)
    assert (session.user, session.instructions) == (user, "Answer in French.")
    assert stored(session_id, token, base) == [
        ("user", "first question", "complete"),
        ("assistant", "first answer", "complete"),
        ("user", "second question", "complete"),
        ("assistant", "You said: second question", "complete"),
    ]


def test_sdk_stream_sends_role_deltas_finish_and_usage(caller, upstream):
    _user, token, base = caller
    client = openai.OpenAI(base_url=base, api_key=token, max_retries=0)
    upstream.push(Behaviour(content="one two three"))

    with client.chat.completions.with_streaming_response.create(
        model="test-model",
        messages=[{"role": "user", "content": "count"}],
        stream=True,
        stream_options={"include_usage": True},
        max_completion_tokens=30,
    ) as raw:
        session_id = raw.headers["X-Chat-Session-Id"]
        chunks = list(raw.parse())

    assert {chunk.object for chunk in chunks} == {"chat.completion.chunk"}
    assert len({chunk.id for chunk in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 3
    assert upstream.reply_requests()[-1]["max_tokens"] == 30
    assert stored(session_id, token, base)[-1] == ("assistant", "one two three", "complete")


def test_stream_on_the_wire_ends_with_done(caller, upstream):
    _user, token, base = caller
    body = {"model": "test-model", "messages": [{"role": "user", "content": "hi"}], "stream": True}

    with httpx.stream(
        "POST", f"{base}/chat/completions", json=body, headers={"Authorization": f"Bearer {token}"}
    ) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]

    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["X-Chat-Session-Id"]
    assert '"role": "assistant"' in lines[0]
    assert '"finish_reason": "stop"' in lines[-2]
    assert lines[-1] == "data: [DONE]"


def test_async_sdk_continues_a_conversation_from_its_stored_history(caller, upstream):
    user, token, base = caller
    session = conversation(user, turns=1)
    other = UserFactory()  # noqa: F841 - a bystander whose rows must not change
    untrusted = [
        {"role": "user", "content": "a forged earlier question"},
        {"role": "assistant", "content": "a forged earlier answer"},
        {"role": "user", "content": "and now?"},
    ]

    async def run():
        client = openai.AsyncOpenAI(base_url=base, api_key=token, max_retries=0)
        headers = {"X-Chat-Session-Id": str(session.pk)}
        raw = await client.chat.completions.with_raw_response.create(
            model="test-model", messages=untrusted, extra_headers=headers
        )
        streamed = await client.chat.completions.create(
            model="test-model",
            messages=[{"role": "user", "content": "and then?"}],
            stream=True,
            extra_headers=headers,
        )
        pieces = [chunk.choices[0].delta.content or "" async for chunk in streamed]
        await client.close()
        return raw, "".join(pieces)

    raw, streamed_text = asyncio.run(run())

    assert raw.headers["X-Chat-Session-Id"] == str(session.pk)
    assert raw.parse().choices[0].message.content == "You said: and now?"
    assert streamed_text == "You said: and then?"
    first, second = upstream.reply_requests()[-2:]
    assert first["messages"][1:] == [
        {"role": "user", "content": "question 0"},
        {"role": "assistant", "content": "answer 0"},
        {"role": "user", "content": "and now?"},
    ]
    assert "forged" not in str(second)
    assert ChatSession.objects.filter(user=user).count() == 1
    assert [m[1] for m in stored(session.pk, token, base)] == [
        "question 0",
        "answer 0",
        "and now?",
        "You said: and now?",
        "and then?",
        "You said: and then?",
    ]


def test_sdk_lists_the_models_the_user_may_use(caller):
    _user, token, base = caller
    client = openai.OpenAI(base_url=base, api_key=token, max_retries=0)

    models = list(client.models.list())

    assert [(m.id, m.object) for m in models] == [("test-model", "model")]


def test_sdk_raises_its_own_exception_for_each_error(caller, upstream, settings):
    user, token, base = caller
    client = openai.OpenAI(base_url=base, api_key=token, max_retries=0)
    hello = [{"role": "user", "content": "hello"}]

    with pytest.raises(openai.AuthenticationError) as bad_key:
        openai.OpenAI(base_url=base, api_key="cb_wrong", max_retries=0).models.list()
    with pytest.raises(openai.NotFoundError) as unknown_model:
        client.chat.completions.create(model="gpt-nope", messages=hello)
    with pytest.raises(openai.BadRequestError) as tools:
        client.chat.completions.create(
            model="test-model",
            messages=hello,
            tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
        )
    with pytest.raises(openai.BadRequestError) as several:
        client.chat.completions.create(model="test-model", messages=hello, n=2)
    # A fresh key prefix: with Redis, counts of an earlier run for the same user id persist.
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4()}"}
    }
    settings.CHATBOT_RATE_LIMIT = parse_rate("1/hour")
    settings.CHATBOT_LLM_MAX_RETRIES = 0
    upstream.push(Behaviour(status=500))
    with pytest.raises(openai.APIStatusError) as unavailable:
        client.chat.completions.create(model="test-model", messages=hello)
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model="test-model", messages=hello)

    assert bad_key.value.status_code == 401 and bad_key.value.code == "invalid_api_key"
    assert unknown_model.value.code == "model_not_found"
    assert unknown_model.value.param == "model"
    assert (tools.value.param, tools.value.code) == ("tools", "unsupported_parameter")
    assert several.value.param == "n"
    assert unavailable.value.status_code == 503
    assert unavailable.value.body["type"] == "server_error"
    assert "secret" not in unavailable.value.message
    assert limited.value.code == "rate_limit_exceeded"
    assert int(limited.value.response.headers["Retry-After"]) >= 1
    # The 503's message is kept, as everywhere; the rate-limited one made nothing.
    kept = Message.objects.filter(session__user=user, role="user").values_list("content", flat=True)
    assert list(kept) == ["hello"]
    assert ChatSession.objects.filter(user=user).count() == 1


def test_another_users_conversation_is_not_found(caller, upstream):
    _user, token, base = caller
    theirs = conversation(UserFactory(), turns=1)
    client = openai.OpenAI(base_url=base, api_key=token, max_retries=0)

    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(
            model="test-model",
            messages=[{"role": "user", "content": "let me in"}],
            extra_headers={"X-Chat-Session-Id": str(theirs.pk)},
        )

    assert missing.value.body == {
        "message": "Conversation not found.",
        "type": "invalid_request_error",
        "param": "X-Chat-Session-Id",
        "code": "session_not_found",
    }
    assert theirs.messages.count() == 2
    assert upstream.reply_requests() == []


def test_langchain_chat_openai_invokes_and_streams(caller, upstream):
    user, token, base = caller
    llm = ChatOpenAI(
        model="test-model",
        base_url=base,
        api_key=token,
        temperature=0.1,
        max_tokens=25,
        max_retries=0,
    )

    answer = llm.invoke([("system", "Be brief."), ("human", "ping")])
    streamed = "".join(chunk.content for chunk in llm.stream("pong"))

    assert answer.content == "You said: ping"
    assert streamed == "You said: pong"
    invoked, streamed_request = upstream.reply_requests()[-2:]
    assert (invoked["temperature"], invoked["max_tokens"]) == (0.1, 25)
    assert "Be brief." in invoked["messages"][0]["content"]
    assert invoked["messages"][-1] == {"role": "user", "content": "ping"}
    assert streamed_request["messages"][-1] == {"role": "user", "content": "pong"}
    sessions = ChatSession.objects.filter(user=user)
    assert sessions.count() == 2
    assert {s.instructions for s in sessions} == {"Be brief.", ""}


def test_client_leaving_mid_stream_does_not_lose_the_reply(caller, upstream):
    user, token, base = caller
    upstream.push(Behaviour(tokens=40, token_gap=0.02))
    body = {
        "model": "test-model",
        "messages": [{"role": "user", "content": "long"}],
        "stream": True,
    }

    with httpx.stream(
        "POST", f"{base}/chat/completions", json=body, headers={"Authorization": f"Bearer {token}"}
    ) as response:
        for line in response.iter_lines():
            if "tok1" in line:
                break  # and close the connection

    deadline = time.monotonic() + 10
    reply = Message.objects.get(session__user=user, role="assistant")
    while reply.status == "streaming" and time.monotonic() < deadline:
        time.sleep(0.05)
        reply.refresh_from_db()
    assert reply.status == "complete"
    assert reply.content == "".join(f"tok{i} " for i in range(40))


def test_an_issued_token_of_one_user_writes_only_their_conversations(caller, upstream):
    user, token, base = caller
    other = UserFactory()
    account_services.issue_token(user=other)
    client = openai.OpenAI(base_url=base, api_key=token, max_retries=0)

    client.chat.completions.create(model="test-model", messages=[{"role": "user", "content": "x"}])

    assert ChatSession.objects.filter(user=user).count() == 1
    assert not ChatSession.objects.filter(user=other).exists()
