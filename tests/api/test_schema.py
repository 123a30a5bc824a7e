"""The OpenAPI description: complete, served with a local Swagger UI, and true of the
running API (schemathesis against the real ASGI server)."""

from __future__ import annotations

import re
from datetime import date, timedelta

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from accounts import services as account_services
from tests.factories import UserFactory, conversation

EXPECTED_OPERATIONS = {
    ("/api/chat", "post"),
    ("/api/chat/sessions", "get"),
    ("/api/chat/sessions/{session_id}", "get"),
    ("/api/chat/sessions/{session_id}", "post"),
    ("/api/chat/sessions/{session_id}", "patch"),
    ("/api/chat/sessions/{session_id}", "delete"),
    ("/api/chat/sessions/{session_id}/messages", "get"),
    ("/api/chat/sessions/{session_id}/regenerate", "post"),
    ("/api/chat/sessions/{session_id}/share", "post"),
    ("/api/chat/sessions/{session_id}/share", "delete"),
    ("/api/chat/sessions/{session_id}/export", "get"),
    ("/api/chat/sessions/{session_id}/pin", "put"),
    ("/api/chat/sessions/{session_id}/pin", "delete"),
    ("/api/chat/sessions/{session_id}/archive", "put"),
    ("/api/chat/sessions/{session_id}/archive", "delete"),
    ("/api/chat/import", "post"),
    ("/api/chat/messages/{message_id}/feedback", "put"),
    ("/api/chat/messages/{message_id}/feedback", "delete"),
    ("/api/auth/token", "post"),
    ("/api/auth/token", "delete"),
    ("/api/auth/tokens", "get"),
    ("/api/auth/tokens/{token_key}", "delete"),
    ("/api/usage", "get"),
    ("/api/files", "get"),
    ("/api/files", "post"),
    ("/api/files/{file_id}", "get"),
    ("/api/files/{file_id}", "delete"),
    ("/api/models", "get"),
    ("/v1/models", "get"),
    ("/v1/chat/completions", "post"),
}


@pytest.fixture
def openapi(anonymous) -> dict:
    response = anonymous.get("/api/schema/", headers={"Accept": "application/json"})
    assert response.status_code == 200
    return response.json()


@pytest.mark.django_db
def test_schema_describes_every_endpoint_with_auth_and_errors(openapi):
    operations = {
        (path, method)
        for path, item in openapi["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    assert operations == EXPECTED_OPERATIONS
    assert openapi["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A personal API token from POST /api/auth/token.",
    }
    chat = openapi["paths"]["/api/chat"]["post"]
    assert {"bearerAuth": []} in chat["security"]
    assert set(chat["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}
    assert "event: delta" in chat["responses"]["200"]["description"]
    for status in ("400", "401", "404", "413", "429", "503"):
        assert chat["responses"][status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
    sessions = openapi["paths"]["/api/chat/sessions"]["get"]
    assert sessions["responses"]["200"]["headers"]["Link"]
    assert {p["name"] for p in sessions["parameters"]} == {"q", "archived", "limit", "cursor"}
    token = openapi["paths"]["/api/auth/token"]["post"]
    # No global security requirement, so an operation without one needs no credentials.
    assert "security" not in openapi
    assert token.get("security") in (None, [], [{}])


@pytest.mark.django_db
def test_swagger_ui_uses_only_local_static_files(anonymous):
    response = anonymous.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any("swagger-ui" in asset for asset in assets)
    # Everything from this server: vendored files, and the split view's start-up script.
    assert all(asset.startswith(("/static/", "/api/docs/")) for asset in assets), assets
    assert "cdn" not in html.lower()


def valid_period(query: dict) -> dict:
    """Two schema-valid dates made a period the server takes: in order, at most 366 days.
    (A rule between two parameters, which OpenAPI cannot state; the refusals of other
    periods are tested in tests/usage/test_api.py.)"""
    first, last = sorted(date.fromisoformat(query[name]) for name in ("from", "to"))
    if (last - first).days > 365:
        last = first + timedelta(days=365)
    return {**query, "from": first.isoformat(), "to": last.isoformat()}


def run_schemathesis(base_url: str, headers: dict, *, examples: int) -> tuple[list, dict]:
    """Every operation but the token-revoking ones, in positive and negative modes, with
    every check (as ``schemathesis run --checks all --mode all``)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/api/schema/?format=json")
    # Revoking the token in use would leave the rest of the run unauthenticated.
    schema = schema.exclude(path="/api/auth/token", method="DELETE").exclude(
        path="/api/auth/tokens/{token_key}", method="DELETE"
    )
    # Any bytes are a schema-valid file, but only an export's are importable: the import's
    # answers to bad files are tested in tests/sharing/test_import.py.
    schema = schema.exclude(path="/api/chat/import", method="POST")
    # Likewise any bytes are a schema-valid upload, but only files of an accepted type are
    # stored: the 415, 413 and 400 answers to the others are tested in tests/attachments.
    schema = schema.exclude(path="/api/files", method="POST")
    operations = [result.ok() for result in schema.get_all_operations()]

    def fuzz(operation, mode: GenerationMode) -> Exception | None:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,  # the same examples every run: CI stays reproducible
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            if mode is GenerationMode.POSITIVE:
                # A cursor is only valid as the server issued it (tested on its own).
                case.query = {k: v for k, v in (case.query or {}).items() if k != "cursor"}
                if operation.path == "/api/usage":
                    case.query = valid_period(case.query)
            response = case.call(headers=headers)
            if mode is GenerationMode.NEGATIVE and response.status_code == 413:
                # A body past the server's limit (an over-long string or list the schema
                # forbids, made huge) is refused before it is read: a refusal Schemathesis's
                # list of rejecting statuses lacks. Its JSON is still checked below.
                assert response.headers["content-type"][0].startswith("application/json")
                return
            case.validate_response(response, headers=headers)

        try:
            check()
        except Exception as exc:  # noqa: BLE001 - collected and reported by the caller
            return exc
        return None

    # One worker: two threads fuzzing at once raced inside Hypothesis's caches (SystemError,
    # then "inconsistent results from replaying a test case").
    failures = {}
    for operation in operations:
        for mode in GenerationMode:
            exc = fuzz(operation, mode)
            if exc is not None:
                failures[f"{operation.label} ({mode.value})"] = exc
    return [operation.label for operation in operations], failures


# Twenty-five examples for each operation through uvicorn: about a minute on an idle machine,
# more than the suite's 120 s on a loaded one. The limit still catches a hang.
@pytest.mark.timeout(600)
def test_api_conforms_to_its_schema(live_app, upstream):
    """Generated requests for every operation, valid and invalid: no 5xx, valid data
    accepted, invalid data refused, and every answer (status, headers, content type, body)
    one the schema describes."""
    user = UserFactory()
    conversation(user, turns=1)
    headers = {"Authorization": f"Bearer {account_services.issue_token(user=user).token}"}

    checked, failures = run_schemathesis(live_app, headers, examples=25)

    assert len(checked) == len(EXPECTED_OPERATIONS) - 4
    assert not failures, "\n\n".join(f"{label}: {exc}" for label, exc in failures.items())


# Written out, not imported: a change to a rule must change this test too.
TEXT = (
    r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f]"
    r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
)
KEY_CHAR = r"!-~\xa1-\xac\xae-\xff"


@pytest.mark.django_db
def test_schema_states_every_input_rule(openapi):
    schemas = openapi["components"]["schemas"]
    chat = schemas["ChatRequestRequest"]
    assert chat["required"] == ["message"]
    assert {k: v for k, v in chat["properties"]["message"].items() if k != "description"} == {
        "type": "string",
        "minLength": 1,
        "maxLength": 10_000,
        "pattern": TEXT,
    }
    assert chat["properties"]["sessionId"]["nullable"] is True
    assert chat["properties"]["sessionId"]["format"] == "uuid"
    assert chat["properties"]["stream"]["type"] == "boolean"
    session = openapi["paths"]["/api/chat/sessions/{session_id}"]
    for method in ("post", "patch"):
        body = session[method]["requestBody"]
        assert body["required"] is True
        ref = body["content"]["application/json"]["schema"]["$ref"]
        update = schemas[ref.rsplit("/", 1)[1]]
        assert update["minProperties"] == 1 and update["additionalProperties"] is False
        assert "required" not in update
        assert update["properties"]["title"]["maxLength"] == 255
        assert update["properties"]["title"]["pattern"] == TEXT
        assert update["properties"]["currentMessageId"]["format"] == "uuid"
    assert chat["properties"]["editMessageId"]["format"] == "uuid"
    assert schemas["RegenerateRequest"]["properties"]["messageId"]["format"] == "uuid"
    message = schemas["Message"]["properties"]
    assert message["parentId"]["nullable"] is True
    assert message["siblingIds"]["items"]["format"] == "uuid"
    assert "currentMessageId" in schemas["Session"]["properties"]
    token = schemas["TokenRequestRequest"]["properties"]
    assert (token["username"]["maxLength"], token["password"]["maxLength"]) == (254, 4096)
    assert token["username"]["pattern"] == token["password"]["pattern"] == r"^[^\x00]*$"
    assert schemas["MessageStatusEnum"]["enum"] == ["complete", "streaming", "failed", "cancelled"]
    assert schemas["MessageRoleEnum"]["enum"] == ["system", "user", "assistant"]
    assert schemas["ChatReplyStatusEnum"]["enum"] == ["complete", "cancelled"]


@pytest.mark.django_db
def test_schema_states_query_and_header_rules(openapi):
    def parameters(path, method="get"):
        return {p["name"]: p for p in openapi["paths"][path][method]["parameters"]}

    sessions = parameters("/api/chat/sessions")
    assert sessions["q"]["schema"] == {"type": "string", "maxLength": 200, "pattern": r"^[^\x00]*$"}
    for listing in (sessions, parameters("/api/chat/sessions/{session_id}/messages")):
        assert listing["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 200}
        assert listing["cursor"]["schema"] == {"type": "string"}
        assert "answers 400" in listing["cursor"]["description"]
    key = parameters("/api/chat", "post")["Idempotency-Key"]
    assert key["in"] == "header" and not key.get("required")
    assert key["schema"] == {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": f"^[{KEY_CHAR}](?:[ {KEY_CHAR}]*[{KEY_CHAR}])?$",
    }


@pytest.mark.parametrize(
    ("value", "accepted"),
    [("", True), ("x" * 200, True), ("x" * 201, False), ("a\x00b", False)],
    ids=["empty", "at the limit", "over the limit", "NUL"],
)
@pytest.mark.django_db
def test_search_query_is_accepted_exactly_as_the_schema_says(api, value, accepted):
    response = api.get("/api/chat/sessions", {"q": value})

    assert response.status_code == (200 if accepted else 400)


@pytest.mark.parametrize(
    ("key", "accepted"),
    [("k", True), ("a b~", True), ("é" * 255, True), ("x" * 256, False), ("a\x7fb", False)],
    ids=["one char", "inner space", "latin-1 at the limit", "over the limit", "DEL"],
)
def test_idempotency_key_is_accepted_exactly_as_the_schema_says(live_app, upstream, key, accepted):
    user = UserFactory()
    token = account_services.issue_token(user=user).token
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key.encode("latin-1")}

    response = httpx.post(f"{live_app}/api/chat", json={"message": "hi"}, headers=headers)

    assert response.status_code == (200 if accepted else 400), response.text
    pattern = f"^[{KEY_CHAR}](?:[ {KEY_CHAR}]*[{KEY_CHAR}])?$"
    assert (re.fullmatch(pattern, key) is not None and len(key) <= 255) is accepted
