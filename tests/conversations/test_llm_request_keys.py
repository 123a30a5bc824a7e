"""The model calls carry the app's own request keys, not the SDK's per-request uuid4 (whose
os.urandom releases the GIL on the event loop; issue 22)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from openai._base_client import BaseClient

from conversations import llm
from tests.factories import UserFactory
from tests.replying import send

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_chat_and_its_title_make_no_sdk_request_key(upstream, monkeypatch):
    made = []
    original = BaseClient._idempotency_key
    monkeypatch.setattr(
        BaseClient, "_idempotency_key", lambda self: made.append(1) or original(self)
    )
    user = await sync_to_async(UserFactory)()
    finished = await send(user, "Hello, who are you?")
    assert finished.error is None
    assert finished.message.content == "You said: Hello, who are you?"
    assert len(upstream.chat_requests()) == 2  # the reply and the title
    assert made == []


def test_request_keys_are_unique_and_carry_the_process_prefix():
    keys = {llm._request_key() for _ in range(1000)}
    assert len(keys) == 1000
    assert all(key.startswith(f"chatbot-{llm._PROCESS_KEY}-") for key in keys)
    assert len(llm._PROCESS_KEY) == 32
