"""From outside, through the app served by uvicorn: the models listed, a chosen one
answering from its own provider, and another group's model refused."""

from __future__ import annotations

import httpx

from tests.api.conftest import token_for
from tests.catalogue.conftest import BETA_KEY


def test_a_client_lists_models_and_chats_with_the_one_it_chose(
    live_app, providers, user, upstream, second_upstream
):
    headers = {"Authorization": f"Bearer {token_for(user)}"}
    with httpx.Client(base_url=live_app, headers=headers, timeout=30) as client:
        listed = client.get("/api/models").json()
        assert [m["id"] for m in listed] == ["fast", "down", "strong"]
        refused = client.post("/api/chat", json={"message": "hi", "model": "research"})
        assert refused.status_code == 400
        assert refused.json()["detail"] == "Unknown model 'research'."
        answered = client.post("/api/chat", json={"message": "hi", "model": "strong"})
        assert answered.status_code == 200
        assert answered.json()["message"] == "You said: hi"
        session = client.get(f"/api/chat/sessions/{answered.json()['sessionId']}").json()
        assert session["model"] == "strong"
    assert second_upstream.reply_requests()[0]["model"] == "strong"
    assert second_upstream.requests[0]["headers"]["authorization"] == f"Bearer {BETA_KEY}"
    assert upstream.reply_requests() == []
