"""Hostile request shapes sent to the app as deployed (uvicorn, real sockets): nesting deep
enough to break the JSON parser, chunked bodies, bodies over the size limit, paths under
/api/ that match nothing. Each answer is a clear JSON 4xx, never a 500 or an HTML page."""

from __future__ import annotations

import json
import logging
import socket
from urllib.parse import urlsplit

import httpx
import pytest

from accounts import services as account_services
from conversations.json_depth import MAX_DEPTH
from conversations.models import ChatSession, Message
from tests.factories import UserFactory, conversation

pytestmark = pytest.mark.django_db(transaction=True)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def deep_document(fields: dict, depth: int) -> bytes:
    """``fields`` plus ``"x"``, an array ``depth`` levels deep (the object adds one)."""
    document = json.dumps(fields)
    return f'{document[:-1]}, "x": {nested(depth)}}}'.encode()


@pytest.fixture
def token(db) -> str:
    return account_services.issue_token(user=UserFactory()).token


def raw_exchange(base_url: str, head: str, chunks=(), *, timeout: float = 20) -> bytes:
    """Send ``head`` (request line and headers) and ``chunks`` on one socket; the answer."""
    address = urlsplit(base_url)
    with socket.create_connection((address.hostname, address.port), timeout=timeout) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the whole body was sent
        answer = b""
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            answer += data
            if b"\r\n\r\n" in answer and _complete(answer):
                break
    return answer


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def parse_answer(answer: bytes) -> tuple[int, dict, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def chunked(*pieces: bytes) -> list[bytes]:
    return [b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces] + [b"0\r\n\r\n"]


# --- Nesting -----------------------------------------------------------------------------

DEEP = 990  # about 2 KB of brackets: past Python's recursion limit in the stdlib parser


@pytest.mark.parametrize(
    ("method", "path", "fields", "authenticated"),
    [
        ("POST", "/api/chat", {"message": "hi"}, True),
        ("POST", "/api/chat/sessions/{session}", {"title": "new"}, True),
        ("PATCH", "/api/chat/sessions/{session}", {"title": "new"}, True),
        ("POST", "/api/chat/sessions/{session}/regenerate", {"stream": False}, True),
        ("POST", "/api/auth/token", {"username": "someone", "password": "secret"}, False),
    ],
    ids=["chat", "rename POST", "rename PATCH", "regenerate", "token (anonymous)"],
)
def test_deeply_nested_json_is_400_naming_the_problem(
    live_app, upstream, caplog, method, path, fields, authenticated
):
    user = UserFactory()
    session = conversation(user, turns=1, title="kept")
    messages_before = Message.objects.count()
    headers = {"Content-Type": "application/json"}
    if authenticated:
        headers["Authorization"] = f"Bearer {account_services.issue_token(user=user).token}"
    caplog.set_level(logging.INFO)

    response = httpx.request(
        method,
        live_app + path.format(session=session.pk),
        content=deep_document(fields, DEEP),
        headers=headers,
        timeout=20,
    )

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    error = response.json()
    assert error["code"] == "too_deep"
    assert error["detail"] == (
        f"The JSON is nested too deeply: at most {MAX_DEPTH} levels are allowed."
    )
    assert Message.objects.count() == messages_before
    assert ChatSession.objects.get(pk=session.pk).title == "kept"
    assert not [record for record in caplog.records if record.exc_info], "a traceback was logged"
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def test_nesting_at_the_limit_is_parsed(live_app, db):
    # The object is one level; an array MAX_DEPTH - 1 deep inside it reaches the limit exactly.
    at_limit = deep_document({"username": "nobody", "password": "wrong"}, MAX_DEPTH - 1)
    over = deep_document({"username": "nobody", "password": "wrong"}, MAX_DEPTH)
    headers = {"Content-Type": "application/json"}

    parsed = httpx.post(f"{live_app}/api/auth/token", content=at_limit, headers=headers)
    refused = httpx.post(f"{live_app}/api/auth/token", content=over, headers=headers)

    assert parsed.status_code == 401  # parsed, then the credentials were checked
    assert refused.status_code == 400 and refused.json()["code"] == "too_deep"


# --- Chunked bodies and the size limit ---------------------------------------------------


def test_chunked_body_is_read(live_app, upstream, token):
    body = json.dumps({"message": "hello in chunks"}).encode()
    head = (
        "POST /api/chat HTTP/1.1\n"
        "Host: 127.0.0.1\n"
        f"Authorization: Bearer {token}\n"
        "Content-Type: application/json\n"
        "Transfer-Encoding: chunked\n"
        "Connection: close\n"
    )

    status, _, answer = parse_answer(raw_exchange(live_app, head, chunked(body[:10], body[10:])))

    assert status == 200, answer
    assert Message.objects.get(role="user").content == "hello in chunks"
    assert upstream.reply_requests()[-1]["messages"][-1]["content"] == "hello in chunks"


def test_chunked_body_over_the_limit_is_413(live_app, settings, token):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    pieces = [json.dumps({"message": "x" * 600}).encode()[:600]] * 5
    head = (
        "POST /api/chat HTTP/1.1\n"
        "Host: 127.0.0.1\n"
        f"Authorization: Bearer {token}\n"
        "Content-Type: application/json\n"
        "Transfer-Encoding: chunked\n"
    )

    status, headers, answer = parse_answer(raw_exchange(live_app, head, chunked(*pieces)))

    assert status == 413
    assert headers["content-type"] == "application/json"
    assert json.loads(answer) == {
        "detail": "The request body is larger than the limit of 1000 bytes.",
        "code": "too_large",
    }
    assert not Message.objects.exists()


@pytest.mark.parametrize("path", ["/api/auth/token", "/api/chat"])
def test_declared_body_over_the_limit_is_refused_before_it_is_read(live_app, db, path):
    # 200 MB announced and none of it sent: the answer must not wait for the body.
    head = (
        f"POST {path} HTTP/1.1\n"
        "Host: 127.0.0.1\n"
        "Content-Type: application/json\n"
        "Content-Length: 200000000\n"
    )

    status, headers, answer = parse_answer(raw_exchange(live_app, head))

    assert status == 413
    assert headers["connection"] == "close"
    assert json.loads(answer)["code"] == "too_large"
    assert "larger than the limit" in json.loads(answer)["detail"]


def test_body_over_the_limit_outside_the_api_is_413_text(live_app, db):
    head = "POST /accounts/login/ HTTP/1.1\nHost: 127.0.0.1\nContent-Length: 200000000\n"

    status, headers, answer = parse_answer(raw_exchange(live_app, head))

    assert status == 413
    assert headers["content-type"].startswith("text/plain")
    assert b"larger than the limit" in answer


def test_body_at_the_limit_is_accepted(live_app, settings, upstream, token):
    body = json.dumps({"message": "y"}).encode()
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = len(body)

    response = httpx.post(
        f"{live_app}/api/chat",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )

    assert response.status_code == 200
    assert Message.objects.get(role="user").content == "y"


# --- Every answer under /api/ is JSON -----------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/nope",
        "/api/chat/sessions/a%2Fb",
        "/api/chat/sessions/a/b/c",
        "/api/chat/",
        "/api",
        "/v1/nope",
        "/v1",
    ],
)
def test_unknown_api_path_is_json_404(live_app, token, path):
    response = httpx.get(live_app + path, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    if path.startswith("/v1"):
        # OpenAI's error shape, which OpenAI clients read.
        assert response.json()["error"]["message"] == "There is no such API endpoint."
    else:
        assert response.json()["detail"] == "There is no such API endpoint."


def test_unknown_page_outside_the_api_is_still_html(live_app, db):
    response = httpx.get(f"{live_app}/no/such/page/")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


def test_wrong_method_under_the_api_is_json_405(live_app, token):
    response = httpx.put(f"{live_app}/api/chat", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 405
    assert response.json()["detail"] == 'Method "PUT" not allowed.'


def test_server_error_under_the_api_is_json_500(live_app, settings):
    settings.ROOT_URLCONF = "tests.security.api_crash_urls"

    response = httpx.get(f"{live_app}/api/broken")

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "detail": "Something went wrong on our side; please try again.",
        "code": "server_error",
    }
    assert "internal detail" not in response.text
