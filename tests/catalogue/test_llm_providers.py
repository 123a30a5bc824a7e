"""The reply goes to the conversation's model's provider, by its upstream name, with that
provider's key; an unavailable provider hands over to the model's fallback."""

from __future__ import annotations

import pytest

from catalogue import selectors
from conversations import llm
from conversations.errors import LLMUnavailable
from loopback.upstream import Behaviour
from tests.catalogue.conftest import ALPHA_KEY, BETA_KEY

pytestmark = pytest.mark.django_db(transaction=True)

ASK = [{"role": "user", "content": "hello"}]


async def collect(model_id: str) -> list:
    entry = await _entry(model_id)
    return [event async for event in llm.stream(ASK, model=entry)]


async def _entry(model_id: str):
    from asgiref.sync import sync_to_async

    entries = await sync_to_async(selectors.catalogue)()
    return next(entry for entry in entries if entry.id == model_id)


async def test_each_model_is_sent_to_its_own_provider_with_its_key(
    providers, upstream, second_upstream
):
    await collect("fast")
    await collect("strong")
    assert [r["body"]["model"] for r in upstream.requests] == ["alpha-fast-v1"]
    assert upstream.requests[0]["headers"]["authorization"] == f"Bearer {ALPHA_KEY}"
    assert [r["body"]["model"] for r in second_upstream.requests] == ["strong"]
    assert second_upstream.requests[0]["headers"]["authorization"] == f"Bearer {BETA_KEY}"


async def test_the_reply_cap_is_the_reserve_or_half_a_small_window(
    providers, upstream, second_upstream, settings
):
    settings.CHATBOT_MAX_REPLY_TOKENS = 4096
    await collect("fast")  # an 8,000-token window
    await collect("strong")  # 32,000
    assert upstream.chat_requests()[0]["max_tokens"] == 4000
    assert second_upstream.chat_requests()[0]["max_tokens"] == 4096


async def test_the_fallback_answers_when_the_provider_refuses_connections(
    providers, second_upstream
):
    events = await collect("down")
    assert "".join(e.content for e in events if isinstance(e, llm.TextDelta)) == "You said: hello"
    assert events[-1].model == "strong"  # the model that answered
    assert [body["model"] for body in second_upstream.chat_requests()] == ["strong"]


async def test_the_fallback_answers_after_a_server_error(providers, upstream, second_upstream):
    from asgiref.sync import sync_to_async

    from catalogue.models import Model

    await sync_to_async(Model.objects.filter(pk="fast").update)(fallback_id="strong")
    upstream.push(Behaviour(status=503))
    events = await collect("fast")
    assert events[-1].model == "strong"
    assert len(upstream.chat_requests()) == 1 and len(second_upstream.chat_requests()) == 1


async def test_without_a_fallback_an_unavailable_provider_is_an_error(providers, upstream):
    upstream.push(Behaviour(status=503))
    with pytest.raises(LLMUnavailable):
        await collect("fast")


async def test_a_rejected_request_is_not_sent_to_the_fallback(providers, upstream, second_upstream):
    from asgiref.sync import sync_to_async

    from catalogue.models import Model
    from conversations.errors import LLMRejected

    await sync_to_async(Model.objects.filter(pk="fast").update)(fallback_id="strong")
    upstream.push(Behaviour(status=400))
    with pytest.raises(LLMRejected):
        await collect("fast")
    assert second_upstream.chat_requests() == []


async def test_a_stream_cut_after_text_does_not_switch_models(providers, upstream, second_upstream):
    from asgiref.sync import sync_to_async

    from catalogue.models import Model

    await sync_to_async(Model.objects.filter(pk="fast").update)(fallback_id="strong")
    upstream.push(Behaviour(content="one two three four", drop_after=2))
    with pytest.raises(LLMUnavailable):
        await collect("fast")
    assert second_upstream.chat_requests() == []
