"""From outside, through the ASGI app served by uvicorn: share, read, revoke; an import
larger than the general body limit (its own limit), while other routes keep theirs."""

from __future__ import annotations

import json

import httpx

from accounts import services as account_services
from conversations.models import ChatSession
from tests.factories import UserFactory, conversation
from tests.sharing.test_import import chatgpt_conversation


def test_share_read_revoke_and_a_large_import_over_http(live_app, settings):
    owner = UserFactory(email="owner@example.com")
    session = conversation(owner, turns=1, title="Live share")
    token = account_services.issue_token(user=owner).token
    headers = {"Authorization": f"Bearer {token}"}
    # The import of 400 conversations can take longer than httpx's default 5 s on a loaded
    # machine.
    with httpx.Client(base_url=live_app, headers=headers, timeout=60) as client:
        shared = client.post(f"/api/chat/sessions/{session.pk}/share").json()
        page = httpx.get(shared["url"])
        assert page.status_code == 200
        assert page.headers["x-robots-tag"] == "noindex, nofollow"
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert "answer 0" in page.text and "owner@example.com" not in page.text

        assert client.delete(f"/api/chat/sessions/{session.pk}/share").status_code == 200
        assert httpx.get(shared["url"]).status_code == 404

        export = [chatgpt_conversation(f"c-{n}", f"Chat {n}") for n in range(400)]
        data = json.dumps(export).encode()
        assert len(data) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        imported = client.post(
            "/api/chat/import", files={"file": ("conversations.json", data, "application/json")}
        )
        assert imported.status_code == 200, imported.text
        assert imported.json() == {"imported": 400, "skipped": 0, "errors": []}
        assert ChatSession.objects.filter(user=owner).count() == 401

        too_large = client.post(
            "/api/chat",
            content=b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1),
            headers={"Content-Type": "application/json"},
        )
        assert too_large.status_code == 413
