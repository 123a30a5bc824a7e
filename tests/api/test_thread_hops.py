"""The chat send's hot path under ASGI runs on the event loop: the only hops to a thread are
the ASGI handler's own (request_started, rendering a DRF response, closing it); the
send's database work goes to conversations.db's threads.

Deterministic cost, asserted here; the time it saves is measured by bench/ (issue 7).
"""

from __future__ import annotations

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.core.asgi import get_asgi_application

from accounts import services as account_services
from loopback.upstream import Behaviour
from tests.factories import UserFactory
from tests.recording import record_db_trips, record_thread_hops

pytestmark = pytest.mark.django_db(transaction=True)

SIGNAL_HOP = "Signal.asend.<locals>.sync_send"
HANDLER_HOPS = {SIGNAL_HOP, "SimpleTemplateResponse.render", "HttpResponseBase.close"}


async def hops_for_one_send(app, monkeypatch) -> list[str]:
    user = await sync_to_async(UserFactory)()
    token = (await sync_to_async(account_services.issue_token)(user=user)).token
    hops = record_thread_hops(monkeypatch)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        response = await client.post(
            "/api/chat",
            json={"message": "Count the hops"},
            headers={"Authorization": f"Bearer {token}"},
        )
    monkeypatch.undo()
    assert response.status_code == 200, response.text
    assert response.json()["message"] == "tok0 tok1 tok2 "
    return hops


async def test_a_chat_send_hops_to_a_thread_only_in_djangos_asgi_handler(upstream, monkeypatch):
    from chatbot.asgi import django_asgi_app

    upstream.push(Behaviour(tokens=3))
    hops = await hops_for_one_send(django_asgi_app, monkeypatch)
    # request_started; rendering the DRF response; closing it (which sends request_finished)
    assert hops == [SIGNAL_HOP, "SimpleTemplateResponse.render", "HttpResponseBase.close"]


async def test_djangos_own_middleware_would_hop_for_every_hook(upstream, monkeypatch):
    # The contrast that makes the test above mean something: the stock handler.
    upstream.push(Behaviour(tokens=3))
    hops = await hops_for_one_send(get_asgi_application(), monkeypatch)
    assert len([hop for hop in hops if hop not in HANDLER_HOPS]) >= 10


async def test_a_chat_send_stores_its_turn_in_authentications_database_trip(upstream, monkeypatch):
    from chatbot.asgi import django_asgi_app

    upstream.push(Behaviour(tokens=3))
    trips = record_db_trips(monkeypatch)
    await hops_for_one_send(django_asgi_app, monkeypatch)

    # Authentication, validation and the stored turn: one trip; then the reply's end.
    assert trips[:2] == ["ChatView.sync_initial", "finish_reply"]
