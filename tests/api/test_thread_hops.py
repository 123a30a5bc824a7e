"""The chat send's hot path under ASGI runs on the event loop: a streamed send starts no
thread of its own, a JSON one hops only to render its DRF response (and closes it in that
thread); the send's database work goes to conversations.db's threads.

Deterministic cost, asserted here; the time it saves is measured by bench/ (issue 7).
"""

from __future__ import annotations

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.core.asgi import get_asgi_application
from django.core.handlers.asgi import ASGIHandler

from accounts import services as account_services
from chatbot.forks.handler import InlineMiddlewareLoading
from loopback.upstream import Behaviour
from tests.factories import UserFactory
from tests.recording import record_db_trips, record_thread_hops

pytestmark = pytest.mark.django_db(transaction=True)

SIGNAL_HOP = "Signal.asend.<locals>.sync_send"
HANDLER_HOPS = {SIGNAL_HOP, "SimpleTemplateResponse.render", "HttpResponseBase.close"}


class StockHandler(InlineMiddlewareLoading, ASGIHandler):
    """The app's handler as it was before chatbot.forks.request_thread."""


async def hops_for_one_send(app, monkeypatch, *, stream: bool = False) -> list[str]:
    user = await sync_to_async(UserFactory)()
    token = (await sync_to_async(account_services.issue_token)(user=user)).token
    hops = record_thread_hops(monkeypatch)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        response = await client.post(
            "/api/chat",
            json={"message": "Count the hops", "stream": stream},
            headers={"Authorization": f"Bearer {token}"},
        )
    monkeypatch.undo()
    assert response.status_code == 200, response.text
    if stream:
        assert "event: done" in response.text
    else:
        assert response.json()["message"] == "tok0 tok1 tok2 "
    return hops


async def test_a_chat_send_hops_to_a_thread_only_to_render_its_json(upstream, monkeypatch):
    from chatbot.asgi import django_asgi_app

    upstream.push(Behaviour(tokens=3))
    hops = await hops_for_one_send(django_asgi_app, monkeypatch)
    # Rendering the DRF response starts the request's thread; the response closes there.
    assert hops == ["SimpleTemplateResponse.render", "HttpResponseBase.close"]


async def test_a_streamed_chat_send_starts_no_thread(upstream, monkeypatch):
    from chatbot.asgi import django_asgi_app

    upstream.push(Behaviour(tokens=3))
    hops = await hops_for_one_send(django_asgi_app, monkeypatch, stream=True)
    # Django's handler would start a thread for request_started and for the close.
    assert hops == []
    stock = await hops_for_one_send(StockHandler(), monkeypatch, stream=True)
    assert stock == [SIGNAL_HOP, "HttpResponseBase.close"]


async def test_a_sync_view_closes_its_response_in_its_own_thread(monkeypatch):
    from chatbot.asgi import django_asgi_app

    user = await sync_to_async(UserFactory)()
    token = (await sync_to_async(account_services.issue_token)(user=user)).token
    hops = record_thread_hops(monkeypatch)
    transport = httpx.ASGITransport(app=django_asgi_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        response = await client.get(
            "/api/chat/sessions", headers={"Authorization": f"Bearer {token}"}
        )
    monkeypatch.undo()
    assert response.status_code == 200, response.text
    # The thread that ran the view holds its database connection: request_finished's
    # close_old_connections must run there.
    assert hops[-1] == "HttpResponseBase.close"


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
