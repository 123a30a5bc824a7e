"""Every parameter of OpenAI's Chat Completions that this server does not honour is
refused, naming it, in OpenAI's error shape, before anything is stored or sent."""

from __future__ import annotations

import httpx
import openai
import pytest

from conversations.models import ChatSession

HELLO = [{"role": "user", "content": "hello"}]
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"tools": [TOOL]}, "tools"),
        ({"tool_choice": "auto"}, "tool_choice"),
        ({"functions": [TOOL["function"]]}, "functions"),
        ({"function_call": "auto"}, "function_call"),
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"audio": {"voice": "alloy", "format": "wav"}}, "audio"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"seed": 7}, "seed"),
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"presence_penalty": 0.5}, "presence_penalty"),
        ({"frequency_penalty": -1}, "frequency_penalty"),
        ({"prediction": {"type": "content", "content": "x"}}, "prediction"),
        ({"reasoning_effort": "high"}, "reasoning_effort"),
        ({"service_tier": "flex"}, "service_tier"),
        ({"store": True}, "store"),
        ({"metadata": {"a": "b"}}, "metadata"),
        ({"web_search_options": {}}, "web_search_options"),
        ({"stream": True, "stream_options": {"include_obfuscation": False}}, None),
        ({"made_up": 1}, "made_up"),
    ],
)
def test_an_unsupported_parameter_is_refused_naming_it(caller, upstream, extra, param):
    user, token, base = caller
    param = param or "stream_options." + next(iter(extra["stream_options"]))

    response = httpx.post(
        f"{base}/chat/completions",
        json={"model": "test-model", "messages": HELLO, **extra},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": f"The parameter '{param}' is not supported by this server.",
            "type": "invalid_request_error",
            "param": param,
            "code": "unsupported_parameter",
        }
    }
    assert "X-Chat-Session-Id" not in response.headers
    assert not ChatSession.objects.filter(user=user).exists()
    assert upstream.requests == []


@pytest.mark.parametrize(
    "extra",
    [
        {"n": 1},
        {"logprobs": False},
        {"presence_penalty": 0, "frequency_penalty": 0.0},
        {"store": False},
        {"tools": None, "seed": None},  # null is OpenAI's "not given"
        {"modalities": ["text"]},
        {"response_format": {"type": "text"}},
    ],
)
def test_a_neutral_value_asks_for_nothing_and_is_accepted(caller, upstream, extra):
    _user, token, base = caller

    response = httpx.post(
        f"{base}/chat/completions",
        json={"model": "test-model", "messages": HELLO, **extra},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 200, response.text
    sent = upstream.reply_requests()[-1]
    assert not {"n", "logprobs", "tools", "seed", "modalities", "response_format"} & set(sent)


def test_the_sdk_raises_bad_request_for_audio_output(caller, upstream):
    _user, token, base = caller
    client = openai.OpenAI(base_url=base, api_key=token, max_retries=0)

    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="test-model",
            messages=HELLO,
            modalities=["text", "audio"],
            audio={"voice": "alloy", "format": "wav"},
        )

    assert refused.value.code == "unsupported_parameter"
    assert refused.value.param in ("modalities", "audio")
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("message", "param"),
    [
        ({"role": "user", "content": "hi", "name": "bob"}, "messages[0].name"),
        (
            {"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]},
            "messages[0].content[0]",
        ),
        ({"role": "tool", "content": "42", "tool_call_id": "x"}, "messages[0].tool_call_id"),
    ],
)
def test_unsupported_message_fields_and_parts_are_refused_naming_them(
    caller, upstream, message, param
):
    _user, token, base = caller

    response = httpx.post(
        f"{base}/chat/completions",
        json={"model": "test-model", "messages": [message]},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param and f"'{param}'" in error["message"]
    assert upstream.requests == []
