"""Search terms stay out of the server's logs: uvicorn's access lines (and its WebSocket
lines) carry the path without the query string, under the documented command."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx

from chatbot.log_filters import StripQueryString
from tests.infra.conftest import PASSWORD


def test_a_search_term_is_not_in_the_deployed_apps_log_but_the_path_is(deployed):
    app = deployed()
    token = httpx.post(
        app.url + "/api/auth/token", json={"username": "ada", "password": PASSWORD}
    ).json()["token"]

    listed = httpx.get(
        app.url + "/api/chat/sessions?q=secretterm",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert listed.status_code == 200
    app.stop()  # flushes its output

    log = Path(app.tmp, "app.log").read_text()
    assert '"GET /api/chat/sessions HTTP/1.1" 200' in log
    assert "secretterm" not in log


def test_websocket_lines_lose_their_query_string_too():
    record = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        '%s - "WebSocket %s" [accepted]',
        ("127.0.0.1:5000", "/ws/chat/?q=secretterm"),
        None,
    )

    assert StripQueryString().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "WebSocket /ws/chat/" [accepted]'
